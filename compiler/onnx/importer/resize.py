"""Fixed-batch files: reading the file's constants at a second probe's sizes.

A file exported with a fixed batch (the dynamo exporter's default; torch.export
specialises a batch of 1) writes the batch size into its constants: reshape targets
``[2, 17, 3, 4, 8]``, a class token already expanded to ``[2, 1, 32]``. Probing such a
file again at a larger batch would give shape inference stale numbers, and every layout
would read as constant. So at the second probe, where a constant dimension equals the
file's batch size (or T, or T*N) *and* the network value it meets has the probe's size
at the same place, the constant is read at the probe's size: the probe itself shows that
the dimension is the batch. Only the shapes handed to ONNX shape inference change; the
converters still read the file's values (and drop batch axes along which a constant is
uniform, :meth:`.context.Context.operand`).
"""

from __future__ import annotations

import numpy as np

DATA = "data"       # probe.DATA (probe imports this module)
# ops whose second input is a target shape
_SHAPE_INPUT = {"Reshape", "Expand"}
# ops whose constant operands broadcast against (or join) network values axis by axis
_ALIGNED = {"Concat", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Equal", "Less", "Greater",
            "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"}


def resize_inputs(node, shapes: dict, values: dict, status: dict, resize: dict[int, int]):
    """``shapes`` and ``values`` of ``node``'s inputs with the file's fixed sizes read at
    the probe's (``resize``: file size -> probe size)."""
    shapes, values = dict(shapes), dict(values)
    data = [shapes[i] for i in node.input if i and status.get(i) == DATA]
    if not data:
        return shapes, values
    if node.op_type in _SHAPE_INPUT and len(node.input) > 1 and status.get(node.input[1]) != DATA \
            and node.input[1] in values:
        target = [int(d) for d in values[node.input[1]].reshape(-1)]
        fixed = _reshape_target(target, data[0], resize) if node.op_type == "Reshape" \
            else _expand_target(target, data[0], resize)
        if fixed != target:
            values[node.input[1]] = np.array(fixed, dtype=np.int64)
        return shapes, values
    if node.op_type not in _ALIGNED:
        return shapes, values
    join = None                         # Concat's own axis is not broadcast: leave it
    if node.op_type == "Concat":
        join = next((a.i for a in node.attribute if a.name == "axis"), 0)
    for name in node.input:             # a constant operand that meets network values
        if not name or status.get(name) == DATA:
            continue
        new = _operand_shape(shapes[name], data, resize, join)
        if new != shapes[name]:
            shapes[name] = new
            values.pop(name, None)
    return shapes, values


def _resolved(target: list[int], shape: tuple[int, ...]) -> list[int] | None:
    """A Reshape target with 0 (copy) resolved; None when it holds a -1."""
    out = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)]
    return None if -1 in out else out


def _reshape_target(target: list[int], shape: tuple[int, ...], resize: dict[int, int]) -> list[int]:
    """Replace the one entry (or two adjacent ones: T, N) of a stale target so that it
    holds the input's element count with the same values in front, as a per-sample
    reshape does."""
    count = int(np.prod(shape))
    resolved = _resolved(target, shape)
    if resolved is None or int(np.prod(resolved)) == count:
        return target
    # the values in front of an axis that holds the batch (alone, or merged: N*k)
    fronts = {int(np.prod(shape[:j])) for j, d in enumerate(shape) if any(d % n == 0 for n in resize.values())}
    options = [[i] for i in range(len(target))] + [[i, i + 1] for i in range(len(target) - 1)]
    for idx in options:
        if not all(resolved[i] in resize for i in idx):
            continue
        new = list(resolved)
        for i in idx:
            new[i] = resize[resolved[i]]
        if int(np.prod(new)) == count and int(np.prod(new[:idx[0]])) in fronts:
            return [new[i] if i in idx else d for i, d in enumerate(target)]
    return target


def _expand_target(target: list[int], shape: tuple[int, ...], resize: dict[int, int]) -> list[int]:
    out = list(target)
    for k in range(1, min(len(target), len(shape)) + 1):
        if target[-k] in resize and shape[-k] == resize[target[-k]]:
            out[-k] = shape[-k]
    return out


def _operand_shape(shape: tuple[int, ...], data: list[tuple[int, ...]], resize: dict[int, int],
                   join: int | None = None):
    out = list(shape)
    for k in range(1, len(shape) + 1):
        if join is not None and (len(shape) - k) == join % len(shape):
            continue
        if shape[-k] in resize and any(len(d) >= k and d[-k] == resize[shape[-k]] for d in data):
            out[-k] = resize[shape[-k]]
    return tuple(out)
