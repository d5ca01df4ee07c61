"""Fixed-batch files: reading the file's constants at a second probe's sizes.

A file exported with a fixed batch (the dynamo exporter's default; torch.export
specialises a batch of 1) writes the batch size into its constants: reshape targets
``[2, 17, 3, 4, 8]``, a class token already expanded to ``[2, 1, 32]``, attention
reshapes to ``[L, N*heads, d]`` = ``[6, 4, 8]``. Probing such a file again at a larger
batch would give shape inference stale numbers, and every layout would read as
constant. So at the second probe, the network value a constant meets shows where the
batch is: the axes whose size changed between the two probes. A constant dimension at
such an axis that equals the value's size at the first probe is read at its size now;
a reshape target is rescaled at the one axis that has as many values in front of it as
the input has in front of its batch (a per-sample reshape keeps those). Only the shapes
handed to ONNX shape inference change; the converters still read the file's values (and
drop batch axes along which a constant is uniform, :meth:`.context.Context.operand`).
"""

from __future__ import annotations

import numpy as np

DATA = "data"       # probe.DATA (probe imports this module)
# ops whose second input is a target shape
_SHAPE_INPUT = {"Reshape", "Expand"}
# ops whose constant operands broadcast against (or join) network values axis by axis
_ALIGNED = {"Concat", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Equal", "Less", "Greater",
            "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"}


def resize_inputs(node, shapes: dict, values: dict, status: dict, before: dict, resize: dict[int, int],
                  choice: int = 0):
    """``shapes`` and ``values`` of ``node``'s inputs with the file's fixed sizes read at
    this probe's, and how many readings there were; ``before`` holds the first probe's
    shapes, ``resize`` maps the file's batch-like sizes (N, T, T*N) to this probe's.

    A reshape target can have several readings (the batch merged major into one axis,
    ``[L, N*h, d]``, or minor into another, ``[L*N, E]``: the counts alone do not tell);
    ``choice`` picks one (the prober tries the next where the first leads to a shape
    error downstream)."""
    shapes, values = dict(shapes), dict(values)
    data = [(before[i], shapes[i]) for i in node.input if i and status.get(i) == DATA and i in before]
    if not data:
        return shapes, values, 1
    if node.op_type in _SHAPE_INPUT and len(node.input) > 1 and status.get(node.input[1]) != DATA \
            and node.input[1] in values:
        target = [int(d) for d in values[node.input[1]].reshape(-1)]
        readings = reshape_targets(target, *data[0], resize) if node.op_type == "Reshape" \
            else [_expand_target(target, *data[0])]
        fixed = readings[min(choice, len(readings) - 1)]
        if fixed != target:
            values[node.input[1]] = np.array(fixed, dtype=np.int64)
        return shapes, values, len(readings)
    if node.op_type == "GatherND" and node.input[1] in values and status.get(node.input[1]) != DATA:
        fixed = vmapped_indices(values[node.input[1]], *data[0])
        if fixed is not None:
            values[node.input[1]] = fixed
            shapes[node.input[1]] = fixed.shape
        return shapes, values, 1
    if node.op_type not in _ALIGNED:
        return shapes, values, 1
    for name in node.input:             # a constant operand that meets network values
        if not name or status.get(name) == DATA:
            continue
        new = _operand_shape(shapes[name], data)
        if new != shapes[name]:
            shapes[name] = new
            values.pop(name, None)
    return shapes, values, 1


def is_vmapped(indices: np.ndarray, batch: int) -> bool:
    """GatherND indices written at a fixed ``batch`` as ``(b, …)`` tuples along their own
    first axis, ``indices[b, …, 0] == b``: transformers' vmapped padding mask ``mask[b, k]``
    exported at a fixed batch."""
    return (indices.ndim >= 2 and indices.shape[0] == batch and np.issubdtype(indices.dtype, np.integer)
            and bool((indices[..., 0] == _along_first(np.arange(batch), indices.ndim - 1)).all()))


def vmapped_indices(indices: np.ndarray, first: tuple[int, ...], now: tuple[int, ...]) -> np.ndarray | None:
    """:func:`is_vmapped` indices over data whose axis 0 is the batch (changed between the
    probes), at this probe's batch: the tuples of sample 0 repeated with b = 0 … N−1; None
    when they are not such indices."""
    if not first or not now or first[0] == now[0] or not is_vmapped(indices, first[0]):
        return None
    out = np.repeat(indices[:1], now[0], axis=0)
    out[..., 0] = _along_first(np.arange(now[0]), indices.ndim - 1)
    return out


def _along_first(values: np.ndarray, ndim: int) -> np.ndarray:
    return values.reshape(-1, *[1] * (ndim - 1))


def _moved(first: tuple[int, ...], now: tuple[int, ...]) -> list[int]:
    """The axes whose size changed between the probes: where the batch (and time) sit."""
    return [j for j, (a, b) in enumerate(zip(first, now)) if a != b] if len(first) == len(now) else []


def reshape_targets(target: list[int], first: tuple[int, ...], now: tuple[int, ...],
                    resize: dict[int, int]) -> list[list[int]]:
    """Every reading of a stale target at this probe, the likeliest first (just
    ``[target]`` when it is not stale). The batch goes to the axis with as many values in
    front as the input has in front of its batch (a per-sample reshape keeps that count;
    a batch merged into the input's axis puts 1 or k there). Order: a target entry that
    is the batch size itself; the batch starting an axis (``[L, N*h, d]``: torch's
    attention views); the batch ending one (``[L*N, E]``). A ``-1`` is first read as what
    it stood for at the first probe (left stale, it would take in the batch: Swin's
    ``[64, 49, 3, 3, -1]``); the target as written comes last."""
    count = int(np.prod(now))
    resolved = [now[i] if d == 0 and i < len(now) else d for i, d in enumerate(target)]
    if -1 in target:        # what it stood for at the first probe: a stale -1 would take in the batch
        known = int(np.prod([first[i] if d == 0 and i < len(first) else d
                             for i, d in enumerate(target) if d != -1]))
        if not known or int(np.prod(first)) % known:
            return [target]
        resolved[target.index(-1)] = int(np.prod(first)) // known
    moved = _moved(first, now)
    if int(np.prod(resolved)) == count or not moved:
        return [target]
    j = moved[0]
    ks = {now[j] // b for a, b in resize.items() if now[j] % b == 0 and first[j] == a * (now[j] // b)}
    fronts = [int(np.prod(now[:j])) * g for g in sorted({1} | ks)]
    readings = []
    for rank in ("exact", "major", "minor"):
        for front in fronts:
            for found in _rescalings(resolved, front, count, resize, rank):
                reading = [d if found[i] == resolved[i] else found[i] for i, d in enumerate(target)]
                if reading not in readings:
                    readings.append(reading)
    return readings + [target] if -1 in target and target not in readings else readings or [target]


def _rescalings(resolved: list[int], front: int, count: int, resize: dict[int, int], rank: str):
    for i in range(len(resolved)):
        ahead = int(np.prod(resolved[:i]))
        if front % ahead or resolved[i] % (front // ahead):
            continue
        inner = front // ahead          # > 1: the batch merged minor into this axis ([L*N, E])
        if (inner > 1) != (rank == "minor"):
            continue
        for span in (1, 2):
            head = [resolved[i] // inner] + resolved[i + 1:i + span]
            if rank == "exact" and any(d not in resize for d in head):
                continue
            for scales in _scalings(head, resize):
                new = resolved[:i] + [inner * scales[0]] + scales[1:] + resolved[i + span:]
                if len(scales) == span and int(np.prod(new)) == count:
                    yield new


def _scalings(dims: list[int], resize: dict[int, int]):
    """Each way to read ``dims`` at the probe's sizes: every dim that is a multiple of a
    fixed size (N·k, or T, or T·N) scaled to the probe's."""
    if not dims:
        yield []
        return
    head, *rest = dims
    for a, b in resize.items():
        if head % a == 0:
            for tail in _scalings(rest, resize):
                yield [head // a * b] + tail


def _expand_target(target: list[int], first: tuple[int, ...], now: tuple[int, ...]) -> list[int]:
    out = list(target)
    moved = set(_moved(first, now))
    for k in range(1, min(len(target), len(now)) + 1):
        if len(now) - k in moved and target[-k] == first[-k]:
            out[-k] = now[-k]
    return out


def _operand_shape(shape: tuple[int, ...], data: list[tuple[tuple[int, ...], tuple[int, ...]]]):
    out = list(shape)
    for first, now in data:
        moved = set(_moved(first, now))
        for k in range(1, min(len(shape), len(now)) + 1):
            if len(now) - k in moved and shape[-k] == first[-k]:
                out[-k] = now[-k]
    return tuple(out)
