"""ANNs exported with torch.onnx's dynamo exporter (``dynamo=True``, the default since
PyTorch 2.9: opset 18+, ``Gelu`` and ``LayerNormalization`` as single ops, BatchNorm folded
by the exporter) convert as the TorchScript exports do (issue 14). The digits CNN
(relu-if, ecmt) and the digits ViT (ecmt) go through ``snnc convert``; onnxruntime runs the
converted file, PyTorch the ANN, and the SNN's agreement with the ANN per T equals the
legacy export's SNN's (run the same way) and reaches the figure the legacy tests ask for."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import require

from onnx_helpers import run_ort

torch = require("torch")
SNNC = [sys.executable, "-m", "snnc"]
T = 16


def export_dynamo(model, x: np.ndarray, path) -> onnx.ModelProto:
    """``model`` as a user exports it with the dynamo exporter: dynamic batch."""
    torch.onnx.export(model, (torch.from_numpy(x[:2]),), str(path), input_names=["image"], dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    return onnx.load(str(path))


def agreement_per_t(snn: onnx.ModelProto, x: np.ndarray, ann_top: np.ndarray) -> np.ndarray:
    out = next(iter(run_ort(snn, {snn.graph.input[0].name: np.broadcast_to(x, (T, *x.shape)).copy()}).values()))
    mean = np.cumsum(out.astype(np.float64), axis=0) / np.arange(1, T + 1)[:, None, None]
    return (mean.argmax(-1) == ann_top).mean(-1)


def _thresholds(snn: onnx.ModelProto) -> list[float]:
    """The calibrated thresholds in graph order: IF v_threshold, multi-threshold θ+ and θ−."""
    out = []
    for node in snn.graph.node:
        for a in node.attribute:
            if a.name in ("v_threshold", "theta_pos", "theta_neg"):
                out += list(a.floats) or [a.f]
    return out


def _convert(path, calib, out, method):
    r = subprocess.run(SNNC + ["convert", str(path), "--calib", str(calib), "-o", str(out), "--method", method],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return onnx.load(str(out))


@pytest.fixture(scope="module")
def exports(digits_cnn, digits_vit, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dynamo")
    out = {}
    for name, (folder, model) in (("cnn", digits_cnn), ("vit", digits_vit)):
        x = np.load(folder / "test.npy")
        proto = export_dynamo(model, x, tmp / f"{name}.onnx")
        assert proto.opset_import[0].version >= 18       # the dynamo exporter's opset, not the legacy 17
        with torch.no_grad():
            ann_top = model(torch.from_numpy(x)).numpy().argmax(1)
        out[name] = (folder, tmp, x, ann_top)
    return out


@pytest.mark.parametrize("net, method, floor", [("cnn", "relu-if", 0.95), ("cnn", "ecmt", 0.95),
                                                ("vit", "ecmt", 0.95)])
def test_dynamo_export_converts_like_the_legacy_export(exports, net, method, floor):
    folder, tmp, x, ann_top = exports[net]
    dynamo = _convert(tmp / f"{net}.onnx", folder / "calib.npy", tmp / f"{net}-{method}-dynamo.snn.onnx", method)
    legacy = _convert(folder / "ann.onnx", folder / "calib.npy", tmp / f"{net}-{method}-legacy.snn.onnx", method)
    # the same activations were calibrated: the thresholds agree to float32 rounding
    np.testing.assert_allclose(_thresholds(dynamo), _thresholds(legacy), rtol=1e-5)
    ours, theirs = agreement_per_t(dynamo, x, ann_top), agreement_per_t(legacy, x, ann_top)
    assert np.abs(ours - theirs).max() <= 0.01, (ours, theirs)     # a borderline spike at most
    assert ours[-1] >= floor and ours[0] < ours[-1], ours
