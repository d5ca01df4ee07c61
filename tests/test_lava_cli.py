"""``snnc verify MODEL --target loihi``: onnxruntime, the float and loihi interpreters and
Lava on one input; exit 0 only when the loihi interpreter and Lava agree bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import require
from snnc.cli import main


torch = require("torch")
pytestmark = pytest.mark.lava


@pytest.fixture(scope="module", autouse=True)
def _lava(lava):
    """Every test here runs on Lava (conftest's ``lava``: never skipped in CI)."""


class ConvNet(torch.nn.Module):
    """conv-BN-LIF, maxpool, flatten, linear-LIF, rate read-out: [T, N, 2, 8, 8] -> [N, 5]."""

    def __init__(self, soft=False):
        from snnc.nn import LIF

        super().__init__()
        self.conv, self.bn = torch.nn.Conv2d(2, 6, 3, padding=1), torch.nn.BatchNorm2d(6)
        self.lif1 = LIF(tau=2.0, v_reset=None if soft else 0.0)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc, self.lif2 = torch.nn.Linear(6 * 4 * 4, 5), LIF(tau=3.0, v_threshold=0.7)

    def forward(self, x):
        t, n = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1))).reshape(t, n, 6, 8, 8)
        y = self.pool(self.lif1(y).flatten(0, 1)).reshape(t, n, -1)
        return self.lif2(self.fc(y.flatten(0, 1)).reshape(t, n, 5)).mean(0)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from snnc.onnx.export import export

    from conftest import randomize_batchnorm

    folder = tmp_path_factory.mktemp("verify")
    torch.manual_seed(0)
    paths = {}
    for name, soft in (("net", False), ("soft", True)):
        model = ConvNet(soft).eval()
        randomize_batchnorm(model)
        with torch.no_grad():
            model.conv.weight.mul_(3.0)
            model.fc.weight.mul_(4.0)
        paths[name] = folder / f"{name}.onnx"
        export(model, torch.rand(2, 2, 2, 8, 8), paths[name])
    return paths


def test_verify_prints_every_layer_and_exits_0(models, capsys):
    assert main(["verify", str(models["net"]), "--target", "loihi", "--random-input", "--timesteps", "6"]) == 0
    out = capsys.readouterr().out
    for layer in ("lif1", "pool", "lif2"):
        assert layer in out
    assert "bit for bit" in out and "DIFF" not in out


def test_verify_json_from_a_file_input(models, tmp_path, capsys):
    x = np.random.default_rng(3).random((5, 3, 2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["verify", str(models["net"]), "--input", str(tmp_path / "x.npy"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bit_exact"] and report["input_shape"] == [5, 3, 2, 8, 8]
    assert [r["layer"] for r in report["layers"]] == ["lif1", "pool", "lif2"]
    assert [r["lag"] for r in report["layers"]] == [1, 2, 3]
    for row in report["layers"]:
        assert row["lava_equals_loihi"] and row["ort_equals_float"] and row["float_loihi_agreement"] > 0.8
    (out,) = report["outputs"]
    assert out["max_error_loihi_lava"] == 0 and out["max_error_ort_float"] < 1e-5
    assert out["top1_loihi_lava"] == 1.0
    assert report["quantization"]["layers"]


def test_verify_names_what_lava_cannot_do(models, capsys):
    assert main(["verify", str(models["soft"]), "--random-input"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnc: error: ") and "soft reset" in err and "lif1" in err


def test_verify_rejects_a_wrong_input_shape(models, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((4, 2, 3, 8, 8), np.float32))
    assert main(["verify", str(models["net"]), "--input", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert "bad.npy" in err and "[T, N, 2, 8, 8]" in err and "Traceback" not in err
