"""Ops that move, select or combine values without computing new ones.

All are spike-preserving: a reshape of spikes is spikes. Axes and shapes in attributes
are per sample (the importer has removed the time and batch axes).
"""

from __future__ import annotations

import numpy as np

from snnc.ir import kinds
from snnc.ir.kinds import ANALOG
from snnc.ir.ops.common import norm_axis, prod, same_kind
from snnc.ir.registry import NONSPIKE, SPIKE_PRESERVING, Attr, op


def _reshape_shape(node, ins):
    shape = tuple(node.attrs["shape"])
    if prod(shape) != ins[0].size:
        raise ValueError(f"cannot reshape {ins[0].shape} ({ins[0].size} values) to {shape}")
    return [shape]


@op("reshape", arity=1, shape=_reshape_shape, kind=same_kind, traits={SPIKE_PRESERVING},
    attrs={"shape": Attr("ints")})
def reshape(node, arrays):
    """Same values, new per-sample shape (row-major)."""
    x = arrays[0]
    return [x.reshape(x.shape[0], *node.attrs["shape"])]


def _transpose_shape(node, ins):
    perm = tuple(node.attrs["perm"])
    if sorted(perm) != list(range(len(ins[0].shape))):
        raise ValueError(f"perm {perm} is not a permutation of rank {len(ins[0].shape)}")
    return [tuple(ins[0].shape[p] for p in perm)]


@op("transpose", arity=1, shape=_transpose_shape, kind=same_kind, traits={SPIKE_PRESERVING},
    attrs={"perm": Attr("ints")})
def transpose(node, arrays):
    """Permute the per-sample axes."""
    return [arrays[0].transpose(0, *(p + 1 for p in node.attrs["perm"]))]


def _concat_shape(node, ins):
    rank = len(ins[0].shape)
    axis = norm_axis(node.attrs["axis"], rank)
    for v in ins[1:]:
        if len(v.shape) != rank or any(a != b for i, (a, b) in enumerate(zip(v.shape, ins[0].shape)) if i != axis):
            raise ValueError(f"cannot concatenate {[v.shape for v in ins]} on axis {axis}")
    out = list(ins[0].shape)
    out[axis] = sum(v.shape[axis] for v in ins)
    return [tuple(out)]


def _concat_kind(node, ins):
    return [kinds.join(*(v.kind for v in ins))]


@op("concat", arity=(1, 1 << 16), shape=_concat_shape, kind=_concat_kind, traits={SPIKE_PRESERVING},
    attrs={"axis": Attr(int)})
def concat(node, arrays):
    """Join along a per-sample axis."""
    batch = max(a.shape[0] for a in arrays)
    arrays = [np.broadcast_to(a, (batch, *a.shape[1:])) for a in arrays]
    return [np.concatenate(arrays, axis=norm_axis(node.attrs["axis"], arrays[0].ndim - 1) + 1)]


def _slices(node, shape):
    index = [slice(None)] * len(shape)
    axes = node.attrs["axes"] or list(range(len(node.attrs["starts"])))
    steps = node.attrs["steps"] or [1] * len(axes)
    for start, end, axis, step in zip(node.attrs["starts"], node.attrs["ends"], axes, steps):
        index[norm_axis(axis, len(shape))] = slice(start, end, step)
    return tuple(index)


def _slice_shape(node, ins):
    probe = np.empty(ins[0].shape, dtype=np.bool_)
    return [probe[_slices(node, ins[0].shape)].shape]


@op("slice", arity=1, shape=_slice_shape, kind=same_kind, traits={SPIKE_PRESERVING},
    attrs={"starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints", ()), "steps": Attr("ints", ())})
def slice_(node, arrays):
    """``x[start:end:step]`` on the given per-sample axes (Python slice semantics)."""
    x = arrays[0]
    return [x[(slice(None),) + _slices(node, x.shape[1:])]]


def _gather_shape(node, ins):
    axis = norm_axis(node.attrs["axis"], len(ins[0].shape))
    idx = node.params["indices"]
    shape = ins[0].shape
    return [(*shape[:axis], *idx.shape, *shape[axis + 1:])]


@op("gather", arity=1, shape=_gather_shape, kind=same_kind, traits={SPIKE_PRESERVING},
    attrs={"axis": Attr(int)}, params=("indices",))
def gather(node, arrays):
    """``take(x, indices, axis)`` with constant indices (negative ones count from the end)."""
    x = arrays[0]
    return [np.take(x, node.params["indices"], axis=norm_axis(node.attrs["axis"], x.ndim - 1) + 1)]


def _pad_shape(node, ins):
    pads, rank = node.attrs["pads"], len(ins[0].shape)
    return [tuple(n + pads[i] + pads[i + rank] for i, n in enumerate(ins[0].shape))]


def _pad_kind(node, ins):
    if node.attrs["mode"] != "constant":
        return [ins[0].kind]
    return [kinds.join(ins[0].kind, kinds.Kind.of([node.attrs["value"]]))]


@op("pad", arity=1, shape=_pad_shape, kind=_pad_kind, traits={SPIKE_PRESERVING},
    attrs={"pads": Attr("ints"), "mode": Attr(str, "constant"), "value": Attr(float, 0.0)})
def pad(node, arrays):
    """Pad per-sample axes (ONNX ``pads``: all begins, then all ends; negative crops)."""
    x = arrays[0]
    rank = x.ndim - 1
    pads = node.attrs["pads"]
    crop = (slice(None),) + tuple(slice(max(-pads[i], 0), x.shape[i + 1] - max(-pads[i + rank], 0))
                                  for i in range(rank))
    x = x[crop]
    width = [(0, 0)] + [(max(pads[i], 0), max(pads[i + rank], 0)) for i in range(rank)]
    mode = node.attrs["mode"]
    if mode == "constant":
        return [np.pad(x, width, constant_values=node.attrs["value"])]
    return [np.pad(x, width, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode])]


def _expand_shape(node, ins):
    return [tuple(np.broadcast_shapes(ins[0].shape, tuple(node.attrs["shape"])))]


@op("expand", arity=1, shape=_expand_shape, kind=same_kind, traits={SPIKE_PRESERVING},
    attrs={"shape": Attr("ints")})
def expand(node, arrays):
    """Broadcast to a per-sample shape."""
    x = arrays[0]
    out = _expand_shape(node, [type("V", (), {"shape": x.shape[1:]})])[0]
    rank = len(out)
    x = x.reshape(x.shape[0], *([1] * (rank - x.ndim + 1)), *x.shape[1:])
    return [np.broadcast_to(x, (x.shape[0], *out)).copy()]


def _tile_shape(node, ins):
    return [tuple(n * r for n, r in zip(ins[0].shape, node.attrs["repeats"]))]


@op("tile", arity=1, shape=_tile_shape, kind=same_kind, traits={SPIKE_PRESERVING},
    attrs={"repeats": Attr("ints")})
def tile(node, arrays):
    """Repeat along per-sample axes."""
    return [np.tile(arrays[0], (1, *node.attrs["repeats"]))]


def _reduce_axes(node, rank):
    axes = node.attrs["axes"]
    return tuple(range(rank)) if not axes else tuple(sorted(norm_axis(a, rank) for a in axes))


def _reduce_shape(node, ins):
    shape = ins[0].shape
    axes = _reduce_axes(node, len(shape))
    if node.attrs["keepdims"]:
        return [tuple(1 if i in axes else n for i, n in enumerate(shape))]
    return [tuple(n for i, n in enumerate(shape) if i not in axes)]


def _reduced(node, ins):
    return prod([ins[0].shape[a] for a in _reduce_axes(node, len(ins[0].shape))])


def _sum_kind(node, ins):
    return [kinds.dot(ins[0].kind, kinds.Kind.of([1.0]), _reduced(node, ins))]


def _mean_kind(node, ins):
    n = _reduced(node, ins)
    return [kinds.mul(_sum_kind(node, ins)[0], kinds.Kind.of([1.0 / n])) if n else ANALOG]


_REDUCE_ATTRS = {"axes": Attr("ints", ()), "keepdims": Attr(int, 1)}


def _reduce(name, fn, kind, doc, traits=()):
    def run(node, arrays):
        x = arrays[0]
        axes = tuple(a + 1 for a in _reduce_axes(node, x.ndim - 1))
        return [fn(x, axis=axes, keepdims=bool(node.attrs["keepdims"])).astype(x.dtype, copy=False)]

    run.__doc__ = doc
    op(name, arity=1, shape=_reduce_shape, kind=kind, attrs=dict(_REDUCE_ATTRS), traits=set(traits),
       flops=lambda node, ins, outs: prod(ins[0].shape))(run)


_reduce("reduce_mean", np.mean, _mean_kind, "Mean over per-sample axes (all when none given).")
_reduce("reduce_sum", np.sum, _sum_kind, "Sum over per-sample axes: spikes sum to a count.")
_reduce("reduce_max", np.max, same_kind, "Max over per-sample axes.", traits={SPIKE_PRESERVING})


def _l2(x, axis, keepdims):
    return np.sqrt(np.sum(np.square(x, dtype=np.float64), axis=axis, keepdims=keepdims))


_reduce("reduce_l2", _l2, lambda node, ins: [ANALOG],
        "Euclidean norm over per-sample axes (F.normalize, Swin V2's cosine attention).", traits={NONSPIKE})


def _resize_shape(node, ins):
    return [tuple(int(np.floor(n * s)) for n, s in zip(ins[0].shape, node.attrs["scales"]))]


@op("resize", arity=1, shape=_resize_shape, kind=same_kind,
    attrs={"scales": Attr("floats"), "mode": Attr(str, "nearest"),
           "coordinate_transformation_mode": Attr(str, "asymmetric"), "nearest_mode": Attr(str, "floor")})
def resize(node, arrays):
    """Nearest-neighbour resize by per-axis scales (ONNX Resize, mode=nearest)."""
    x = arrays[0]
    out = _resize_shape(node, [type("V", (), {"shape": x.shape[1:]})])[0]
    ctm = node.attrs["coordinate_transformation_mode"]
    rounding = node.attrs["nearest_mode"]
    for axis, (n_in, n_out, scale) in enumerate(zip(x.shape[1:], out, node.attrs["scales"])):
        o = np.arange(n_out, dtype=np.float64)
        src = (o + 0.5) / scale - 0.5 if ctm in ("half_pixel", "pytorch_half_pixel") else o / scale
        if rounding == "floor":
            idx = np.floor(src)
        elif rounding == "ceil":
            idx = np.ceil(src)
        elif rounding == "round_prefer_ceil":
            idx = np.floor(src + 0.5)
        else:
            idx = np.ceil(src - 0.5)
        x = np.take(x, np.clip(idx.astype(np.int64), 0, n_in - 1), axis=axis + 1)
    return [x]
