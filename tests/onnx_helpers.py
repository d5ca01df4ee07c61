"""Running exported files on the references: onnxruntime and onnx.reference."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx.reference import ReferenceEvaluator


def with_outputs(proto: onnx.ModelProto, names) -> onnx.ModelProto:
    """A copy of ``proto`` that also returns the tensors ``names`` (float32, any shape)."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    have = {o.name for o in proto.graph.output}
    for name in names:
        if name not in have:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return proto


def run_ort(proto: onnx.ModelProto, feeds: dict, outputs=None) -> dict[str, np.ndarray]:
    """onnxruntime's outputs by name (``outputs`` adds intermediate tensors)."""
    if outputs:
        proto = with_outputs(proto, outputs)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def run_reference(proto: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray]:
    """``onnx.reference.ReferenceEvaluator``'s outputs by name."""
    ev = ReferenceEvaluator(proto)
    return dict(zip(ev.output_names, ev.run(None, feeds)))


def neuron_nodes(proto: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in proto.graph.node if n.domain == "snnc"]


def module_path(node: onnx.NodeProto) -> str:
    """``/block.0/attn/q_lif/LIF`` -> ``block.0.attn.q_lif`` (the exporter's naming)."""
    return ".".join(node.name.strip("/").split("/")[:-1])
