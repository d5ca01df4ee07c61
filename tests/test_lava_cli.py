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
def modules():
    from conftest import randomize_batchnorm

    torch.manual_seed(0)
    built = {}
    for name, soft in (("net", False), ("soft", True)):
        model = ConvNet(soft).eval()
        randomize_batchnorm(model)
        with torch.no_grad():
            model.conv.weight.mul_(3.0)
            model.fc.weight.mul_(4.0)
        built[name] = model
    return built


@pytest.fixture(scope="module")
def models(modules, tmp_path_factory):
    from snnc.onnx.export import export

    folder = tmp_path_factory.mktemp("verify")
    paths = {}
    for name, model in modules.items():
        paths[name] = folder / f"{name}.onnx"
        export(model, torch.rand(2, 2, 2, 8, 8), paths[name])
    return paths


def _expected_scale(w, b, theta, x_max):
    """The quantiser's scale, written out (loihi_spec.py's bounds): the largest k with
    even 8-bit weights, a 16-bit input, a 17-bit threshold and a 13-bit bias mantissa
    << 7, lowered so that k·θ is an integer (and by 2 % while rounding breaks a bound).
    Returns (k, k·θ, weight_error)."""
    from loihi_spec import A_IN_MAX, EXP_MAX, MANT_MAX, VTH_MAX, WEIGHT_MAX

    flat = w.reshape(w.shape[0], -1)
    worst = max(np.where(flat > 0, flat, 0).sum(1).max(), (-np.where(flat < 0, flat, 0)).sum(1).max()) * x_max
    k = min(WEIGHT_MAX / np.abs(w).max(), A_IN_MAX / worst, (VTH_MAX + 1) / theta,
            MANT_MAX * 2**EXP_MAX / (64 * np.abs(b).max()))
    while True:     # rounding may push a weight or a sum over its bound: shrink by 2 %
        theta_int = int(np.floor(k * theta + 1e-9))
        k = theta_int / theta
        w_int = 2 * np.rint(k * w / 2)
        ints = w_int.reshape(w.shape[0], -1)
        worst_int = max(np.where(ints > 0, ints, 0).sum(1).max(), (-np.where(ints < 0, ints, 0)).sum(1).max())
        if np.abs(w_int).max() <= WEIGHT_MAX and worst_int * x_max <= A_IN_MAX:
            break
        k *= 0.98
    return k, theta_int, np.linalg.norm(w_int / k - w) / np.linalg.norm(w)


def test_verify_prints_every_layer_and_exits_0(models, capsys):
    assert main(["verify", str(models["net"]), "--target", "loihi", "--random-input", "--timesteps", "6"]) == 0
    out = capsys.readouterr().out
    for layer in ("lif1", "pool", "lif2"):
        assert layer in out
    assert "bit for bit" in out and "DIFF" not in out


def test_verify_json_from_a_file_input(models, modules, tmp_path, capsys):
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
    # the quantisation, computed here from the torch model: BatchNorm folded by hand, the
    # input as unsigned 5-bit levels over its range, 1/τ folded into the weights
    model = modules["net"]
    quant = report["quantization"]
    conv, pool, fc = quant["layers"]
    bits = quant["inputs"]["x"]["bits"]
    assert conv["input"] == f"graded({bits})" and quant["inputs"]["x"]["max_level"] == 2**bits - 1
    per_level = (2**bits - 1) / float(x.max())            # x >= 0: unsigned levels
    np.testing.assert_allclose(quant["inputs"]["x"]["scale"], per_level, rtol=1e-12)
    bn = model.bn
    gain = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).double().detach().numpy()
    w = model.conv.weight.double().detach().numpy() * gain[:, None, None, None] / 2.0 / per_level
    b = ((model.conv.bias.double() - bn.running_mean.double()).detach().numpy() * gain
         + bn.bias.double().detach().numpy()) / 2.0
    k, theta_int, err = _expected_scale(w, b, 1.0, 2**bits - 1)
    assert (conv["layer"], conv["neuron"], conv["tau"], conv["theta"]) == ("conv", "lif1", 2.0, 1.0)
    assert conv["vth"] == theta_int - 1 and conv["dv"] == 2048 and conv["du"] == 4095
    np.testing.assert_allclose([conv["scale"], conv["weight_error"]], [k, err], rtol=1e-5)
    assert (pool["layer"], pool["vth"], pool["dv"]) == ("pool", 0, 4095)
    theta = float(np.float32(0.7))
    w = model.fc.weight.double().detach().numpy() / 3.0
    k, theta_int, err = _expected_scale(w, model.fc.bias.double().detach().numpy() / 3.0, theta, 1)
    assert (fc["layer"], fc["neuron"], fc["tau"], fc["theta"]) == ("fc", "lif2", 3.0, theta)
    assert fc["vth"] == theta_int - 1 and fc["dv"] == round(4096 / 3.0) == 1365
    np.testing.assert_allclose([fc["scale"], fc["weight_error"]], [k, err], rtol=1e-5)


def test_verify_names_what_lava_cannot_do(models, capsys):
    assert main(["verify", str(models["soft"]), "--random-input"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnc: error: ") and "soft reset" in err and "lif1" in err


def test_verify_rejects_a_wrong_input_shape(models, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((4, 2, 3, 8, 8), np.float32))
    assert main(["verify", str(models["net"]), "--input", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert "bad.npy" in err and "[T, N, 2, 8, 8]" in err and "Traceback" not in err
