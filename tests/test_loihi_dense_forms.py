"""Every way PyTorch exports a dense layer lands on the chip as one Loihi synapse.

A Linear on ``[T, N, F]`` exports as MatMul + Add (the importer reads a bias-less
``linear`` and an ``add``: ``fold-bias`` makes the add the layer's bias, which Loihi
carries as the neuron's ``bias_mant·2^bias_exp``); on ``[T·N, F]`` as Gemm; without a
bias as a bare MatMul; ``x @ W + b`` with parameters as MatMul + Add; 1×1 convs as Conv.
Each form is exported with ``snnc.export``, checked against onnxruntime after the
default passes (the folds are exact), quantised, and run on Lava: every synapse is on the
chip, the plan has no host op between chip layers, and Lava equals the loihi numerics.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from snnc.ir.interpret import Interpreter

torch = require("torch")
ort = require("onnxruntime")

T, N = 4, 2


def _lif(**kw):
    from snnc.nn import LIF

    return LIF(**kw)


class Flat(torch.nn.Module):
    """Linear on ``[T·N, F]`` (Gemm with bias), reshaped back before the neuron."""

    def __init__(self):
        super().__init__()
        self.fc, self.lif = torch.nn.Linear(8, 6), _lif(tau=2.0)

    def forward(self, x):
        return self.lif(self.fc(x.flatten(0, 1)).reshape(*x.shape[:2], 6))


class MatMulParam(torch.nn.Module):
    """``x @ W + b`` with W, b parameters: MatMul by a constant, then Add."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(8, 6) * 0.8)
        self.b = torch.nn.Parameter(torch.rand(6) * 0.4)
        self.lif = _lif(tau=2.0)

    def forward(self, x):
        return self.lif(torch.matmul(x, self.w) + self.b)


class AddFirst(torch.nn.Module):
    """``b + x @ W``: the constant on the add's left."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(8, 6) * 0.8)
        self.b = torch.nn.Parameter(torch.rand(6) * 0.4)
        self.lif = _lif(tau=2.0)

    def forward(self, x):
        return self.lif(self.b + torch.matmul(x, self.w))


class Conv1x1(torch.nn.Module):
    """1×1 Conv2d over ``[T·N, C, H, W]``: a dense layer per pixel."""

    def __init__(self):
        super().__init__()
        self.conv, self.lif = torch.nn.Conv2d(2, 5, 1), _lif(tau=2.0, v_threshold=0.4)
        self.fc, self.lif2 = torch.nn.Linear(5 * 3 * 3, 4), _lif(v_threshold=0.4)

    def forward(self, x):
        y = self.lif(self.conv(x.flatten(0, 1)).reshape(*x.shape[:2], 5, 3, 3))
        return self.lif2(self.fc(y.flatten(2)))


class Conv1d1(torch.nn.Module):
    """Conv1d with kernel 1 over tokens ``[T·N, C, L]`` (Spikformer's MLP)."""

    def __init__(self):
        super().__init__()
        self.conv, self.lif = torch.nn.Conv1d(8, 6, 1), _lif(tau=2.0)

    def forward(self, x):
        return self.lif(self.conv(x.flatten(0, 1)).reshape(*x.shape[:2], 6, 5))


def _mlp(bias=True):
    lin = lambda i, o: torch.nn.Linear(i, o, bias=bias)       # noqa: E731
    return torch.nn.Sequential(lin(8, 16), _lif(), lin(16, 12), _lif(tau=3.0), lin(12, 4), _lif())


#: name -> (model, input shape, chip synapses); the forms in LAVA also run on Lava (the
#: others lower to the same Dense + LIF processes, which the MLP's verify run covers)
LAVA = ("no-bias", "gemm", "conv-1x1", "conv1d-k1")
FORMS = {
    "mlp-3d": (lambda: _mlp(), (T, N, 8), 3),
    "no-bias": (lambda: _mlp(bias=False), (T, N, 8), 3),
    "gemm": (Flat, (T, N, 8), 1),
    "matmul-param": (MatMulParam, (T, N, 8), 1),
    "add-first": (AddFirst, (T, N, 8), 1),
    "conv-1x1": (Conv1x1, (T, N, 2, 3, 3), 2),
    "conv1d-k1": (Conv1d1, (T, N, 8, 5), 1),
}


def _export(name, path):
    import snnc

    make, shape, _ = FORMS[name]
    torch.manual_seed(1)
    model = make().eval()
    with torch.no_grad():                  # strong enough weights that every layer spikes
        for p in model.parameters():
            if p.ndim > 1:
                p.mul_(3.0).add_(0.3)
    x = torch.rand(*shape)
    snnc.export(model, x, path)
    return x.numpy()


@pytest.mark.parametrize("name", list(FORMS))
def test_every_dense_form_is_a_chip_synapse(name, tmp_path, lava):
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.run import run_loihi
    from snnc.onnx.importer import import_onnx
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    path = tmp_path / f"{name}.onnx"
    x = _export(name, path)
    folded = run_pipeline(import_onnx(str(path)), DEFAULT_PIPELINE)
    assert not [n for n in folded.nodes if n.op in ("add", "sub", "matmul")], [n.op for n in folded.nodes]
    sess = ort.InferenceSession(str(path))
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    got = Interpreter(folded).run({folded.inputs[0]: x})[folded.outputs[0]]
    np.testing.assert_array_equal(got, want)      # the folds are exact: the same spikes
    q = run_pipeline(folded, "loihi-quantize", options={"loihi-quantize": {"calibration": {folded.inputs[0]: x}}})
    synapses = [n for n in q.nodes if n.op in ("loihi_dense", "loihi_conv")]
    assert len(synapses) == FORMS[name][2]
    assert not [n for n in q.nodes if n.op in ("linear", "conv", "lif", "loihi_dequant")]
    plan(q)                                       # no host op between chip layers
    bias = "no-bias" not in name
    lifs = [n for n in q.nodes if n.op == "loihi_lif"]
    assert all(("bias_mant" in n.params) == bias for n in lifs)
    sim = run_loihi(q, {q.inputs[0]: x})
    spikes = sum(int(a.sum()) for a in sim.values.values())
    assert 0 < spikes < sum(a.size for a in sim.values.values())
    if name in LAVA:
        lava_run = run_loihi(q, {q.inputs[0]: x}, engine="lava")
        for v, arr in sim.values.items():
            np.testing.assert_array_equal(lava_run.values[v], arr)


def test_fold_bias_reports_what_stays():
    """A constant that varies along the tokens, not per output feature, is no bias."""
    from snnc.ir.build import emit
    from snnc.ir.graph import Graph, Value
    from snnc.passes import PassLog, fold_bias

    rng = np.random.default_rng(0)
    g = Graph("g")
    g.add_input(Value("x", (5, 3)))
    emit(g, "linear", ["x"], name="fc", params={"weight": rng.random((2, 3)).astype(np.float32)})
    for name, shape in (("tok", (5, 1)), ("ch", (1, 2))):
        emit(g, "constant", [], name=name, params={"value": rng.random(shape).astype(np.float32)})
    emit(g, "add", ["fc", "tok"], name="a1")
    g.outputs = ["a1"]
    log = PassLog("fold-bias")
    out = fold_bias(g, log)
    assert [n.op for n in out.nodes if n.op != "constant"] == ["linear", "add"]
    assert log.counts == {"folded": 0, "left": 1} and "not per output channel" in log.left[0][1]
    emit(g, "linear", ["x"], name="fc2", params={"weight": rng.random((2, 3)).astype(np.float32)})
    emit(g, "sub", ["fc2", "ch"], name="a2")
    g.outputs = ["a1", "a2"]
    out = fold_bias(g, log)
    x = rng.random((2, 3, 5, 3)).astype(np.float32)
    w, c = g.node("fc2").params["weight"], g.node("ch").params["value"]
    np.testing.assert_allclose(Interpreter(out).run({"x": x})["a2"], x @ w.T - c, rtol=1e-6)
    assert out.node("fc2").params["bias"].tolist() == (-c.reshape(-1)).tolist()


def test_the_issue_mlp_passes_verify(tmp_path):
    """`snnc verify --target loihi` on nn.Sequential(Linear, LIF) x3 over [T, N, F]: exit 0."""
    require("lava")
    path = tmp_path / "mlp.onnx"
    x = _export("mlp-3d", path)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([sys.executable, "-m", "snnc", "verify", str(path), "--target", "loihi",
                          "--input", str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "agree bit for bit" in run.stdout
