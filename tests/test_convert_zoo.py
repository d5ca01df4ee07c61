"""Third-party ANNs converted (issue 14): torchvision's ResNet-18 (relu-if) and timm's
ViT (ecmt), random initialisation, exported with torch.onnx as their users would — the
TorchScript exporter (what ``snnc.convert(module, example=x)`` runs) and the dynamo
exporter (``dynamo=True``, torch.onnx's default since PyTorch 2.9); each converts, checks
clean under ``snnc check``, and its SNN output (onnxruntime on the converted file)
approaches the ANN's (PyTorch) as T grows."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import randomize_batchnorm, require

import zoo
from onnx_helpers import run_ort

torch = require("torch")


def _cosines(snn, model, x, steps):
    out = next(iter(run_ort(snn, {snn.graph.input[0].name: np.broadcast_to(x, (steps, *x.shape)).copy()}).values()))
    with torch.no_grad():
        ann = model(torch.from_numpy(x)).numpy().reshape(len(x), -1)
    mean = np.cumsum(out.astype(np.float64), axis=0) / np.arange(1, steps + 1)[:, None, None]
    return [float(((m * ann).sum(1) / np.linalg.norm(m, axis=1) / np.linalg.norm(ann, axis=1)).mean()) for m in mean]


def _check_clean(snn):
    from snnc.check import check
    from snnc.onnx.importer import import_onnx

    result = check(import_onnx(snn))
    assert not [str(d) for d in result.diagnostics if d.severity in ("error", "warning")]
    return result


def _dynamo(model, x, path):
    """``model`` exported with the dynamo exporter, dynamic batch: the file's path."""
    torch.onnx.export(model, (torch.from_numpy(x[:2]),), str(path), input_names=["x"], dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    return path


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory):
    tv = zoo.torchvision()
    torch.manual_seed(0)
    model = tv.models.resnet18(num_classes=10).eval()
    randomize_batchnorm(model)
    x = np.random.default_rng(0).random((20, 3, 32, 32)).astype(np.float32)
    return model, x, {}, tmp_path_factory.mktemp("resnet18")


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("method", ["relu-if", "ecmt"])
def test_torchvision_resnet18(resnet18, method, exporter):
    from snnc.conversion.convert import convert

    model, x, files, tmp = resnet18
    if exporter == "dynamo":         # one export for both methods
        files.setdefault("dynamo", _dynamo(model, x, tmp / "resnet18.onnx"))
        snn, info = convert(str(files["dynamo"]), x[:16], method=method)
    else:
        snn, info = convert(model, x[:16], example=torch.from_numpy(x[:1]), method=method)
    result = _check_clean(snn)
    assert result.spike_driven_fraction > 0.9
    cos = _cosines(snn, model, x[16:], 24)
    assert cos[1] < cos[-1] and cos[-1] > 0.9, cos[::4]


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_timm_vit(exporter, tmp_path):
    from snnc.conversion.convert import convert

    timm = zoo.timm()
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=32,
                              patch_size=8, depth=2).eval()
    x = np.random.default_rng(0).random((20, 3, 32, 32)).astype(np.float32)
    if exporter == "dynamo":
        snn, info = convert(str(_dynamo(model, x, tmp_path / "vit.onnx")), x[:16], method="ecmt")
    else:
        snn, info = convert(model, x[:16], example=torch.from_numpy(x[:1]), method="ecmt")
    assert info.inserted["spiking-matmul"] == 4
    result = _check_clean(snn)
    assert [row.verdict for row in result.attention_products] == ["spike-driven"] * 4
    cos = _cosines(snn, model, x[16:], 24)
    assert cos[0] < cos[-1] and cos[-1] > 0.98, cos[::4]
