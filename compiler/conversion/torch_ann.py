"""A trained ``torch.nn.Module`` as the ONNX file conversion reads."""

from __future__ import annotations

import io

import onnx

from snnc.ir.errors import SnncError


def export_ann(module, example) -> onnx.ModelProto:
    """``module`` exported with ``torch.onnx`` (TorchScript exporter, opset 17, batch axis
    dynamic) on ``example`` (one tensor or a tuple), in eval mode."""
    import torch

    if example is None:
        raise SnncError("converting a torch module needs an example input: snnc.convert(module, calib, example=x)")
    args = example if isinstance(example, tuple) else (example,)
    names = [f"input{i}" if len(args) > 1 else "input" for i in range(len(args))]
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        torch.onnx.export(module, args, buf, input_names=names, output_names=["output"], opset_version=17,
                          dynamo=False, dynamic_axes={n: {0: "batch"} for n in names + ["output"]})
    finally:
        module.train(was_training)
    return onnx.load_from_string(buf.getvalue())
