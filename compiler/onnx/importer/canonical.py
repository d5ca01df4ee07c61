"""Exporter idioms rewritten to the plain ONNX they stand for, before probing.

The dynamo exporter writes ``x.flatten(1)`` after a global pool as torch's
``as_strided``: ``Gather(Reshape(x, [-1]), indices)`` with ``indices = arange(x.size)``
shaped as the result. Read at another batch size, that flat gather would mix samples,
so it is rewritten to the ``Reshape(x, indices.shape)`` it is. Only an exact identity
is rewritten: any other gather of a flattened tensor keeps its meaning (and is refused
later if it mixes samples).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def canonicalize(model: onnx.ModelProto, nodes: list[onnx.NodeProto],
                 consts: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """``nodes`` with each identity flat gather replaced by a Reshape (same name and output)."""
    producer = {o: n for n in nodes for o in n.output}
    known = dict(consts)
    for n in nodes:             # Constant nodes' values (the exporter writes indices as one)
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            known[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    found = [n for n in nodes if _flat_identity_gather(n, producer, known)]
    if not found:
        return nodes
    sizes = _static_sizes(model)
    rewritten = {}
    for gather in found:
        flat = producer[gather.input[0]]
        indices = known[gather.input[1]]
        if sizes.get(flat.input[0]) != indices.size:
            continue
        shape_name = f"{gather.name or gather.output[0]}:shape"
        consts[shape_name] = np.array(indices.shape, dtype=np.int64)
        rewritten[id(gather)] = helper.make_node("Reshape", [flat.input[0], shape_name], list(gather.output),
                                                 name=gather.name)
        rewritten[id(gather)].metadata_props.extend(gather.metadata_props)
    return [rewritten.get(id(n), n) for n in nodes]


def _flat_identity_gather(node, producer, consts) -> bool:
    if node.op_type != "Gather" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return False
    if any(a.name == "axis" and a.i != 0 for a in node.attribute):
        return False
    flat, indices = producer.get(node.input[0]), consts.get(node.input[1])
    if flat is None or flat.op_type != "Reshape" or indices is None or indices.ndim == 0:
        return False
    target = consts.get(flat.input[1]) if len(flat.input) > 1 else None
    return target is not None and target.reshape(-1).tolist() == [-1] \
        and np.issubdtype(indices.dtype, np.integer) \
        and np.array_equal(indices.reshape(-1), np.arange(indices.size))


def _static_sizes(model: onnx.ModelProto) -> dict[str, int]:
    """Element counts of the tensors whose shapes ONNX shape inference fixes."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:   # noqa: BLE001 -- no shapes: nothing is rewritten
        return {}
    sizes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.input):
        dims = info.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            sizes[info.name] = int(np.prod([d.dim_value for d in dims]))
    return sizes
