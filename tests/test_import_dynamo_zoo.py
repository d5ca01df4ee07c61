"""torchvision's own ViT and ConvNeXt (small configurations, random weights), exported
by the dynamo exporter at a fixed batch of 1, import and run at any batch equal to
onnxruntime at the file's batch.

The ViT's attention (``nn.MultiheadAttention``, batch second) views ``[L, N, E]`` as
``[L, N*heads, d]`` and later ``[L, N, heads, d]`` as ``[L*N, E]``: at batch 1 both
targets read either way, and only the rest of the graph tells which. ConvNeXt's
``flatten(1)`` after its pool is written as torch's ``as_strided``, a gather of the
flattened tensor by ``arange``.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch

from snnc.ir.interpret import Interpreter
from snnc.onnx.importer import import_onnx

from onnx_helpers import run_ort
from zoo import torchvision


def _vit(tv):
    return tv.models.VisionTransformer(image_size=16, patch_size=8, num_layers=1, num_heads=2,
                                       hidden_dim=16, mlp_dim=32, num_classes=5)


def _convnext(tv):
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    return ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, None, 1)], num_classes=5)


@pytest.mark.parametrize("build", [_vit, _convnext], ids=["vit", "convnext"])
def test_torchvision_dynamo_fixed_batch(build, tmp_path):
    tv = torchvision()
    torch.manual_seed(0)
    model = build(tv).eval()
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 3, 16, 16),), str(path), dynamo=True, input_names=["x"],
                          output_names=["y"])
    graph = import_onnx(path)
    x = np.random.default_rng(1).random((3, 3, 16, 16)).astype(np.float32)
    (mine,) = Interpreter(graph).run({"x": x}).values()
    proto = onnx.load(path)
    theirs = np.concatenate([run_ort(proto, {"x": x[i:i + 1]})["y"] for i in range(3)])
    expected = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(theirs, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
