"""Sequence ops out of exported graphs: ``SplitToSequence`` + ``SequenceAt`` -> ``Slice``.

The dynamo exporter writes ``q, k, v = x.unbind(2)`` / ``x.chunk(3, 2)`` / ``x.split(c, 2)``
(SpikingJelly's Spikformer attention, for one) as a tensor *sequence* read back item by
item. The importer handles tensors only, so :func:`slice_sequences` rewrites each
``SequenceAt(SplitToSequence(x, split), i)`` with constant ``split`` and ``i`` as the
slice of ``x`` it denotes (ONNX's definitions: a scalar ``split`` cuts chunks of that
size, a 1-D one lists the sizes, no ``split`` cuts size-1 pieces; ``keepdims=0`` then
squeezes the axis). A sequence used any other way is left as is, for the importer to
name.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            for a in node.attribute:
                if a.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(a.t)
                elif a.name in ("value_int", "value_ints"):
                    values[node.output[0]] = np.array(helper.get_attribute_value(a), np.int64)
    return values


def _bounds(split, index: int, keepdims: int):
    """(start, end) of item ``index`` of ``SplitToSequence`` given a constant ``split``."""
    if split is None:
        return index, index + 1
    split = np.asarray(split).astype(np.int64)
    if split.ndim == 0:
        size = int(split)
        return index * size, (index + 1) * size
    sizes = [int(s) for s in split.reshape(-1)]
    return sum(sizes[:index]), sum(sizes[:index + 1])


def slice_sequences(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place (see module doc); returns how many items were sliced."""
    graph = model.graph
    consts = _constants(graph)
    producers = {o: n for n in graph.node for o in n.output}
    users: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    rewritten, out_nodes, dropped = 0, [], set()
    for node in graph.node:
        seq = producers.get(node.input[0]) if node.op_type == "SequenceAt" and node.input else None
        if seq is None or seq.op_type != "SplitToSequence" or node.input[1] not in consts:
            out_nodes.append(node)
            continue
        split_name = seq.input[1] if len(seq.input) > 1 and seq.input[1] else None
        if split_name is not None and split_name not in consts:
            out_nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in seq.attribute}
        # an ONNX SplitToSequence's own attributes: ONNX's defaults, no IR OpDef involved
        axis, keepdims = int(attrs.get("axis", 0)), int(attrs.get("keepdims", 1))
        index = int(consts[node.input[1]])
        if index < 0:
            out_nodes.append(node)
            continue
        start, end = _bounds(consts.get(split_name), index, keepdims)
        base = node.name or node.output[0]
        names = [f"{base}/starts", f"{base}/ends", f"{base}/axes"]
        for name, value in zip(names, ([start], [end], [axis])):
            out_nodes.append(helper.make_node("Constant", [], [name], name=name,
                                              value=numpy_helper.from_array(np.array(value, np.int64), name)))
        squeeze = split_name is None and keepdims == 0
        sliced = f"{node.output[0]}/sliced" if squeeze else node.output[0]
        out_nodes.append(helper.make_node("Slice", [seq.input[0], *names], [sliced], name=f"{base}/Slice"))
        if squeeze:
            out_nodes.append(helper.make_node("Squeeze", [sliced, names[2]], [node.output[0]], name=f"{base}/Squeeze"))
        dropped.add(seq.output[0])
        rewritten += 1
    if not rewritten:
        return 0
    still_used = {i for n in out_nodes for i in n.input} | {o.name for o in graph.output}
    kept = [n for n in out_nodes if not (n.op_type == "SplitToSequence" and n.output[0] in dropped
                                         and n.output[0] not in still_used)]
    del graph.node[:]
    graph.node.extend(kept)
    dead = {v.name for v in graph.value_info if v.name in dropped and v.name not in still_used}
    keep_info = [v for v in graph.value_info if v.name not in dead]
    del graph.value_info[:]
    graph.value_info.extend(keep_info)
    return rewritten
