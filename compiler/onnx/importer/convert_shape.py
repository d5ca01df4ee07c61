"""Converters for ops that move values: reshapes, transposes, slices, joins, reductions.

These are where the time axis disappears. A reshape that only folds T into the batch
(``[T, N, C] <-> [T*N, C]``) is the identity per sample and becomes an alias, not a
node. A reduction, slice or gather over the time axis becomes a decoder
(``mean_time``, ``sum_time``, ``select_time``); a Tile/Expand that creates it, an
encoder (``repeat_time``).
"""

from __future__ import annotations

import numpy as np

from snnc.onnx.importer.context import Context, converter
from snnc.onnx.importer.layout import Layout
from snnc.onnx.importer.probe import CONST, SHAPE
from snnc.onnx.importer.resize import is_vmapped

def _same_time(a: Layout, b: Layout) -> bool:
    return (a.axes == "TN") == (b.axes == "TN") and bool(a.batch) == bool(b.batch)


def _reshape_to_probe(ctx: Context, node) -> None:
    """Reshape, Flatten, Squeeze, Unsqueeze: the output shape is read off the probe.

    It is a reshape per sample when the axes before the batch block hold as many values
    before and after (row-major order then maps each sample's values onto themselves)."""
    x, out = node.input[0], node.output[0]
    if node.op_type in ("Squeeze", "Unsqueeze"):
        ctx.carry(out, x, _squeeze_source(ctx, node))
    src, dst = ctx.layout(x), ctx.layout(out)
    front = src.front(ctx.shapes(x)[0])

    def keeps(layout: Layout) -> bool:
        return _same_time(src, layout) and layout.front(ctx.shapes(out)[0]) == front

    if not keeps(dst):
        # [L, N, E] -> [L*N, E]: the batch merged minor; at a fixed batch of 1 the shapes
        # read several ways (MobileViT's [N*96, 2, 1, 2] also as [96, 2, N, 2]): the one
        # with the same values in front of the batch is the reshape's
        others = [r for layout in [dst, *ctx.readings(out)]
                  for r in ([layout, layout.flipped()] if layout.merged else [layout])]
        dst = next((r for r in others if keeps(r)), dst)
        ctx.set_layout(out, dst)
    if not keeps(dst):
        raise ctx.fail(f"it reshapes {src.describe()} into {dst.describe()}: time and batch axes may "
                       "only fold or unfold together, with the same values in front of them")
    if src.sample == dst.sample:
        ctx.alias(out, ctx.value(x))
    else:
        ctx.emit("reshape", [ctx.value(x)], attrs={"shape": list(dst.sample)})


for _op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
    converter(_op)(_reshape_to_probe)


def _squeeze_source(ctx: Context, node) -> list[int | None]:
    """The input axis each output axis of a Squeeze/Unsqueeze is (None: a new unit axis)."""
    x = ctx.shapes(node.input[0])[0]
    rank = len(x)
    axes = _ints(ctx, node.input[1] if len(node.input) > 1 else None) if ctx.opset >= 13 else ctx.attr("axes")
    if node.op_type == "Unsqueeze":
        new = {a % (rank + len(axes)) for a in axes}
        kept = iter(range(rank))
        return [None if j in new else next(kept) for j in range(rank + len(axes))]
    gone = {a % rank for a in axes} if axes else {a for a in range(rank) if x[a] == 1}
    return [a for a in range(rank) if a not in gone]


@converter("Transpose")
def transpose(ctx: Context, node) -> None:
    x = node.input[0]
    src = ctx.layout(x)
    rank = src.full_rank
    perm = [p % rank for p in ctx.attr("perm", list(reversed(range(rank))))]
    block = list(range(src.pos, src.pos + src.n_batch))
    starts = [j for j in range(rank - src.n_batch + 1) if perm[j:j + src.n_batch] == block]
    if not starts:
        raise ctx.fail(f"perm {perm} splits or reorders the {'/'.join(src.batch)} axes")
    ctx.carry(node.output[0], x, perm)
    sample_perm = [src.to_sample(p) for p in perm if src.merged or not src.is_batch_axis(p)]
    if sample_perm == sorted(sample_perm):
        ctx.alias(node.output[0], ctx.value(x))
    else:
        ctx.emit("transpose", [ctx.value(x)], attrs={"perm": sample_perm})


@converter("Concat")
def concat(ctx: Context, node) -> None:
    out = node.output[0]
    layout = ctx.layout(out)
    axis = ctx.sample_axis(out, ctx.attr("axis"))
    ctx.emit("concat", [ctx.operand(t, layout) for t in node.input], attrs={"axis": axis})


def _ints(ctx: Context, tensor: str | None, default=None):
    return default if not tensor else [int(v) for v in np.asarray(ctx.const(tensor)).reshape(-1)]


@converter("Slice")
def slice_(ctx: Context, node) -> None:
    x = node.input[0]
    layout = ctx.layout(x)
    rank = layout.full_rank
    if ctx.opset < 10:
        starts, ends, axes, steps = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes"), None
    else:
        ins = list(node.input) + [""] * (5 - len(node.input))
        starts, ends = _ints(ctx, ins[1]), _ints(ctx, ins[2])
        axes, steps = _ints(ctx, ins[3]), _ints(ctx, ins[4])
    axes = list(axes or range(len(starts)))
    steps = list(steps or [1] * len(axes))
    full = ctx.shapes(x)[0]
    ctx.carry(node.output[0], x, list(range(rank)))
    sample = {"starts": [], "ends": [], "axes": [], "steps": []}
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis %= rank
        if layout.is_batch_axis(axis):
            tag = layout.batch[axis - layout.pos]
            if tag == "T" and layout.pos == 0:
                _slice_time(ctx, node, layout, start, end, step)
                return
            if range(*slice(start, end, step).indices(full[axis])) == range(full[axis]):
                continue            # a no-op slice over the batch
            raise ctx.fail(f"it slices the {tag} axis")
        lo, hi, st = slice(start, end, step).indices(full[axis])
        if hi < 0:              # "before index 0" going backwards: -1 would mean the last element
            hi = -(full[axis] + 1)
        for key, v in zip(sample, (lo, hi, layout.to_sample(axis), st)):
            sample[key].append(v)
    if not sample["axes"]:
        ctx.alias(node.output[0], ctx.value(x))
        return
    ctx.emit("slice", [ctx.value(x)], attrs=sample)


def _slice_time(ctx: Context, node, layout: Layout, start: int, end: int, step: int) -> None:
    steps = [range(*slice(start, end, step).indices(shape[0])) for shape in ctx.shapes(node.input[0])]
    if any(len(r) != 1 for r in steps):
        raise ctx.fail("it slices several time steps; only one step (x[t:t+1]) can leave the time axis")
    index = steps[0][0] if start >= 0 else start
    ctx.set_layout(node.output[0], Layout(("1", "N"), layout.sample))
    ctx.emit("select_time", [ctx.value(node.input[0])], attrs={"index": int(index)})


@converter("Gather")
def gather(ctx: Context, node) -> None:
    x, idx = node.input
    if not ctx.is_data(x) and ctx.is_data(idx) and ctx.attr("axis", 0) == 0:    # a token embedding
        ctx.emit("embedding", [ctx.value(idx)], params={"weight": ctx.const(x)})
        return
    if _reads_in_order(ctx, x, idx, ctx.attr("axis", 0)):
        _reshape_to_probe(ctx, node)
        return
    if not ctx.is_data(x) or ctx.is_data(idx):
        raise ctx.fail("only Gather from the network's values at constant indices, or rows of a constant "
                       "table (an embedding), is supported")
    layout = ctx.layout(x)
    axis = ctx.attr("axis", 0) % layout.full_rank
    indices = ctx.const(idx)
    ctx.carry(node.output[0], x, [*range(axis), *[None] * indices.ndim, *range(axis + 1, layout.full_rank)])
    if layout.pos == 0 and layout.batch == ("T", "N") and axis == 0 and indices.ndim == 0:
        ctx.set_layout(node.output[0], Layout(("N",), layout.sample))
        ctx.emit("select_time", [ctx.value(x)], attrs={"index": int(indices)})
        return
    ctx.emit("gather", [ctx.value(x)], attrs={"axis": ctx.sample_axis(x, axis)},
             params={"indices": indices.astype(np.int64)})


def _reads_in_order(ctx: Context, x: str, idx: str, axis: int | None) -> bool:
    """The indices are computed from the batch size (a SHAPE value; constant indices stay
    a gather) and at every probe read the gathered axes whole, in order: positions
    ``arange(shape[axis])`` (Gather), or index tuples over the leading axes that ravel to
    ``arange`` (GatherND, ``axis=None``). Such a gather only reshapes those axes into the
    indices' shape: transformers' vmapped padding mask, ``mask.flatten()[b·L + k]``
    (legacy export) or ``mask[b, k]`` (dynamo)."""
    if not ctx.is_data(x) or ctx.status(idx) != SHAPE:
        return False
    for shape, indices in zip(ctx.shapes(x), ctx.probe_values(idx)):
        if not np.issubdtype(indices.dtype, np.integer):
            return False
        if axis is not None:
            if not np.array_equal(indices.reshape(-1), np.arange(shape[axis % len(shape)])):
                return False
        elif not _tuples_in_order(indices, shape):
            return False
    return True


def _tuples_in_order(indices: np.ndarray, shape: tuple[int, ...]) -> bool:
    """GatherND index tuples over the leading axes of ``shape`` that ravel to ``arange``:
    every element of those axes, once, in row-major order."""
    if indices.ndim < 1 or not 0 < indices.shape[-1] <= len(shape):
        return False
    dims, tuples = shape[:indices.shape[-1]], indices.reshape(-1, indices.shape[-1])
    if (tuples < 0).any() or (tuples >= np.array(dims)).any():
        return False
    return np.array_equal(np.ravel_multi_index(tuple(tuples.T), dims), np.arange(int(np.prod(dims))))


def _vmapped_in_order(ctx: Context, x: str, idx: str) -> bool:
    """Constant GatherND indices written at a fixed batch as ``(b, …)`` tuples (the probes
    read them at every batch, :func:`.resize.vmapped_indices`) that at the file's batch read
    the indexed leading axes whole, in order: the fixed-batch export of the vmapped padding
    mask ``mask[b, k]``, a reshape like its dynamic-batch twin in :func:`_reads_in_order`."""
    if not ctx.is_data(x) or ctx.status(idx) != CONST:
        return False
    indices, shape = ctx.const(idx), ctx.shapes(x)[0]
    return bool(shape) and is_vmapped(indices, shape[0]) and _tuples_in_order(indices, shape)


@converter("GatherND")
def gather_nd(ctx: Context, node) -> None:
    """``data[idx[..., 0], …, idx[..., r-1]]`` at constant indices over per-sample leading
    axes (dynamo's adaptive average pool whose output size does not divide its input:
    ``[H, W, N, C]`` gathered at ``[7, 7, kh, kw, 2]``). Row-major, those r axes are one
    axis of their product, so it is a reshape and one gather at the raveled indices."""
    x, idx = node.input
    if not ctx.attr("batch_dims", 0) and (_reads_in_order(ctx, x, idx, None) or _vmapped_in_order(ctx, x, idx)):
        _reshape_to_probe(ctx, node)
        return
    if ctx.attr("batch_dims", 0) or not ctx.is_data(x) or ctx.is_data(idx):
        raise ctx.fail("only GatherND from the network's values at constant indices, with batch_dims 0, "
                       "is supported")
    layout, indices = ctx.layout(x), ctx.const(idx)
    r = indices.shape[-1]
    if layout.merged or layout.pos < r:
        raise ctx.fail(f"its {r} indexed axes of {layout.describe()} include the batch axis")
    dims = layout.sample[:r]
    if indices.size and ((indices < -np.array(dims)).any() or (indices >= np.array(dims)).any()):
        raise ctx.fail(f"an index is out of range for the indexed axes {list(dims)}")
    flat = np.ravel_multi_index(tuple(np.moveaxis(indices % np.array(dims), -1, 0)), dims)
    rows = ctx.emit("reshape", [ctx.value(x)], attrs={"shape": [int(np.prod(dims)), *layout.sample[r:]]},
                    output="", suffix=":rows")
    ctx.emit("gather", [rows], attrs={"axis": 0}, params={"indices": flat.astype(np.int64)})


@converter("GatherElements")
def gather_elements(ctx: Context, node) -> None:
    """``data`` indexed along ``axis`` at the network's indices, where ``data`` is one
    constant row repeated over every other axis: then every output element is
    ``row[index]``, an ``embedding`` of the row. transformers' RoBERTa reads its token-type
    ids so: a registered zero buffer ``expand``ed over the batch, gathered at the
    position ids."""
    x, idx = node.input
    if ctx.is_data(x) or not ctx.is_data(idx):
        raise ctx.fail("only GatherElements of a constant table at the network's indices is supported")
    axis = ctx.attr("axis", 0)
    rows = [np.moveaxis(v, axis % v.ndim, -1).reshape(-1, v.shape[axis % v.ndim]) for v in ctx.probe_values(x)]
    if any(r.shape[1] != rows[0].shape[1] or len(r) == 0 or (r != r[:1]).any() or (r[0] != rows[0][0]).any()
           for r in rows):
        raise ctx.fail("its table varies along the axes it does not index; only one constant row repeated "
                       "over them (a lookup table) is supported")
    ctx.emit("embedding", [ctx.value(idx)], params={"weight": rows[0][0].copy()})


@converter("Split")
def split(ctx: Context, node) -> None:
    x = node.input[0]
    axis = ctx.sample_axis(x, ctx.attr("axis", 0))
    for out in node.output:
        ctx.carry(out, x, list(range(ctx.layout(x).full_rank)))
    sizes = [ctx.layout(o).sample[axis] for o in node.output]
    start = 0
    for i, (out, size) in enumerate(zip(node.output, sizes)):
        ctx.emit("slice", [ctx.value(x)], output=out, suffix=f":{i}" if i else "",
                 attrs={"starts": [start], "ends": [start + size], "axes": [axis], "steps": [1]})
        start += size


@converter("Pad")
def pad(ctx: Context, node) -> None:
    x = node.input[0]
    layout = ctx.layout(x)
    rank = layout.full_rank
    if ctx.opset < 11:
        pads, value = list(ctx.attr("pads")), float(ctx.attr("value", 0.0))
    else:
        pads = _ints(ctx, node.input[1])
        value = float(ctx.const(node.input[2])) if len(node.input) > 2 and node.input[2] else 0.0
        axes = _ints(ctx, node.input[3] if len(node.input) > 3 else None)
        if axes is not None:
            full = [0] * 2 * rank
            for i, a in enumerate(axes):
                full[a % rank], full[a % rank + rank] = pads[i], pads[i + len(axes)]
            pads = full
    if any(pads[a] or pads[a + rank] for a in range(rank) if layout.is_batch_axis(a)):
        raise ctx.fail(f"it pads the {'/'.join(layout.batch)} axis")
    keep = layout.sample_axes()
    mode = ctx.attr("mode", "constant")
    ctx.emit("pad", [ctx.value(x)], attrs={"pads": [pads[a] for a in keep] + [pads[a + rank] for a in keep],
                                           "mode": mode, "value": value})


@converter("Resize")
def resize(ctx: Context, node) -> None:
    x, out = node.input[0], node.output[0]
    if ctx.attr("mode", "nearest") != "nearest":
        raise ctx.fail(f"Resize mode {ctx.attr('mode')!r} is not supported (nearest is)")
    src, dst = ctx.layout(x), ctx.layout(out)
    scales_input = node.input[2] if len(node.input) > 2 else ""
    if scales_input and ctx.const(scales_input).size:
        # the file's own scales: output sizes are floor(size * scale), and nearest picks use them
        scales = [float(v) for v, axis in zip(ctx.const(scales_input), range(src.full_rank))
                  if axis in src.sample_axes()]
    else:
        scales = [b / a for a, b in zip(src.sample, dst.sample)]
    ctx.emit("resize", [ctx.value(x)], attrs={
        "scales": scales, "mode": "nearest",
        "coordinate_transformation_mode": ctx.attr("coordinate_transformation_mode", "half_pixel"),
        "nearest_mode": ctx.attr("nearest_mode", "round_prefer_floor")})


def _repeat_steps(ctx: Context, node) -> int | None:
    """k when this Tile/Expand puts a static ``[N, ...]``/``[1, N, ...]`` value on a new
    leading time axis of k steps (``x.unsqueeze(0).repeat(T, ...)``), else None."""
    x, out = node.input[0], node.output[0]
    src = ctx.layout(x)
    if src.axes != "N":
        return None
    shapes = ctx.shapes(out)
    if len(shapes[0]) != 2 + len(src.sample) or any(s[1] != p.N for s, p in zip(shapes, ctx.sizes)):
        return None
    if any(s[2:] != src.sample for s in shapes):
        raise ctx.fail("it repeats over time and broadcasts per sample at once; split the two")
    steps = {s[0] for s in shapes}
    if len(steps) != 1:
        raise ctx.fail("it repeats a static value over a time axis whose length comes from another input; "
                       "repeat by a constant number of steps")
    steps = steps.pop()
    return steps if steps > 1 else None     # x1: a no-op broadcast, not yet time


def _broadcast_like(ctx: Context, node, op: str, attrs_of) -> None:
    x, out = node.input[0], node.output[0]
    steps = _repeat_steps(ctx, node)
    if steps is not None:
        if ctx.timesteps is not None and ctx.timesteps != steps:
            raise ctx.fail(f"it repeats over {steps} time steps, but the model already has {ctx.timesteps}")
        ctx.timesteps = steps
        ctx.set_layout(out, Layout(("T", "N"), ctx.layout(x).sample))
        ctx.emit("repeat_time", [ctx.value(x)], attrs={"timesteps": steps})
        return
    src, dst = ctx.layout(x), ctx.layout(out)
    if not _same_time(src, dst) or src.pos != dst.pos:
        raise ctx.fail(f"it broadcasts {src.describe()} to {dst.describe()}")
    if src.sample == dst.sample:
        ctx.alias(out, ctx.value(x))
    else:
        ctx.emit(op, [ctx.value(x)], attrs=attrs_of(src, dst))


@converter("Expand")
def expand(ctx: Context, node) -> None:
    _broadcast_like(ctx, node, "expand", lambda src, dst: {"shape": list(dst.sample)})


@converter("Tile")
def tile(ctx: Context, node) -> None:
    def repeats(src, dst):
        if len(dst.sample) != len(src.sample):
            raise ctx.fail("Tile changes the per-sample rank")
        return {"repeats": [b // a for a, b in zip(src.sample, dst.sample)]}

    _broadcast_like(ctx, node, "tile", repeats)


_REDUCE = {"ReduceMean": ("reduce_mean", "mean_time"), "ReduceSum": ("reduce_sum", "sum_time"),
           "ReduceMax": ("reduce_max", None), "ReduceL2": ("reduce_l2", None)}
# opset from which each reduction reads its axes from an input instead of an attribute
_AXES_AS_INPUT = {"ReduceMean": 18, "ReduceSum": 13, "ReduceMax": 18, "ReduceL2": 18}


@converter(*_REDUCE)
def reduce(ctx: Context, node) -> None:
    x, out = node.input[0], node.output[0]
    layout = ctx.layout(x)
    rank = layout.full_rank
    if ctx.opset >= _AXES_AS_INPUT[node.op_type]:
        axes = _ints(ctx, node.input[1] if len(node.input) > 1 else None)
    else:
        axes = ctx.attr("axes")
    keepdims = int(ctx.attr("keepdims", 1))
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            ctx.alias(out, ctx.value(x))
            return
        axes = list(range(rank))
    axes = sorted({a % rank for a in axes})
    batch = [layout.batch[a - layout.pos] for a in axes if layout.is_batch_axis(a)]
    sample = [layout.to_sample(a) for a in axes if not layout.is_batch_axis(a)]
    per_sample, over_time = _REDUCE[node.op_type]
    if any(tag != "T" for tag in batch) or (batch and layout.pos != 0):
        raise ctx.fail(f"it reduces over the {'/'.join(batch)} axis; only per-sample axes and time "
                       "can be reduced")
    value = ctx.value(x)
    if sample:
        final = not batch
        value = ctx.emit(per_sample, [value], attrs={"axes": sample, "keepdims": keepdims},
                         output=out if final else "", suffix="" if final else ":features")
    if batch:
        if over_time is None:
            raise ctx.fail(f"{node.op_type} over time is not supported")
        ctx.set_layout(out, Layout(("1", "N") if keepdims else ("N",),
                                   _reduced_sample(layout.sample, sample, keepdims)))
        ctx.emit(over_time, [value], attrs={"timesteps": _steps(ctx, x)})


def _reduced_sample(shape, axes, keepdims):
    return tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdims else \
        tuple(n for i, n in enumerate(shape) if i not in axes)


def _steps(ctx: Context, tensor: str) -> int:
    """T when every probe agrees on it (a constant of the file), else 0 (unknown)."""
    sizes = {shape[0] for shape in ctx.shapes(tensor)}
    return sizes.pop() if len(sizes) == 1 else 0
