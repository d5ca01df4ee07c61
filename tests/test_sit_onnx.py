"""SIT's Spiking-Softmax in the snnc dialect and the IR: onnxruntime on the exported file
equals PyTorch (SI-exp spike for spike, Spiking-Softmax allclose) at two (T, N); the IR
interpreter equals onnxruntime; the IR written back as ONNX equals it; `snnc show`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx_helpers import run_ort
from torch import nn

from snnc.ir.interpret import record, run
from snnc.nn import sit
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_onnx
from snnc.onnx.ir_to_onnx import graph_to_onnx

SHAPES = [(3, 2), (7, 4)]          # (T, N): the export used neither


class Attention(nn.Module):
    """Softmax over the last axis of [T, N, heads, q, k], plain and with the sigmoid, and an
    SI-exp whose d(t) = 2^t makes its output the spike train written in binary."""

    def __init__(self):
        super().__init__()
        self.soft = sit.SpikingSoftmax(K=12, dim=-1)
        self.soft_sig = sit.SpikingSoftmax(K=8, dim=-1, pre_sigmoid=True)
        tab = sit.load_tables()["12"]
        self.binary = sit.SIExp(12, tab["T"], tab["h"], [2.0 ** t for t in range(12)])

    def forward(self, x):
        return self.soft(x), self.soft_sig(x), self.binary(x)


def _ort(proto, x):
    outs = run_ort(proto, {proto.graph.input[0].name: x})
    return [outs[o.name] for o in proto.graph.output]


@pytest.fixture(scope="module")
def exported():
    model = Attention().eval()
    proto = to_onnx(model, torch.zeros(2, 1, 2, 3, 5))
    onnx.checker.check_model(proto, full_check=True)
    return model, proto


def _numpy_si_exp_spikes(x, th, h):
    """SIT Eq. 2-3 written here: the spike train, [K, *x.shape]."""
    v = x.astype(np.float32)
    z = []
    for t in range(len(th)):
        fired = v >= np.float32(th[t])
        z.append(fired)
        v = np.where(fired, v - np.float32(h[t]), v)
    return np.stack(z)


def test_onnxruntime_equals_pytorch_at_two_shapes(exported):
    model, proto = exported
    types = sorted(n.op_type for n in proto.graph.node if n.domain == "snnc")
    assert types == ["SIExp", "SIExp", "SIExp", "SINorm", "SINorm"]
    tab = sit.load_tables()["12"]
    rng = np.random.default_rng(0)
    for t, n in SHAPES:
        x = rng.uniform(-1.2, 1.2, (t, n, 2, 3, 5)).astype(np.float32)
        with torch.no_grad():
            want = [o.numpy() for o in model(torch.from_numpy(x))]
        got = _ort(proto, x)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
        # spike for spike: the binary-weighted SI-exp is exact in float32, both ways
        np.testing.assert_array_equal(got[2], want[2])
        z = _numpy_si_exp_spikes(x, tab["T"], tab["h"])
        np.testing.assert_array_equal(got[2], (z * (2.0 ** np.arange(12)).reshape(-1, 1, 1, 1, 1, 1)).sum(0))
        # Spiking-Softmax rows sum to 1 and approach softmax on [-1, 1] (SIT Fig. 7's scale)
        np.testing.assert_allclose(got[0].sum(-1), 1.0, rtol=1e-5)
        soft = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
        assert np.abs(got[0] - soft).max() < 0.05


def test_interpreter_equals_onnxruntime_and_written_back(exported):
    _, proto = exported
    graph = import_onnx(proto)
    ops = sorted(n.op for n in graph.nodes if n.op.startswith("si_"))
    assert ops == ["si_exp", "si_exp", "si_exp", "si_norm", "si_norm"]
    assert all(graph.values[n.outputs[0]].kind.is_analog for n in graph.nodes if n.op.startswith("si_"))
    again = graph_to_onnx(graph)
    rng = np.random.default_rng(1)
    for t, n in SHAPES:
        x = rng.uniform(-1.5, 1.5, (t, n, 2, 3, 5)).astype(np.float32)
        want = _ort(proto, x)
        got = run(graph, {graph.inputs[0]: x})
        back = _ort(again, x)
        for name, w, b in zip(graph.outputs, want, back):
            np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(b, w, rtol=1e-5, atol=1e-6)
    # the si_exp spikes the interpreter makes are the numpy reference's
    from snnc.ir.ops.sit import si_exp_spikes
    x = rng.uniform(-1, 1, (2, 3, 2, 3, 5)).astype(np.float32)
    values = record(graph, {graph.inputs[0]: x})
    node = next(n for n in graph.nodes if n.op == "si_exp" and int(n.attrs["K"]) == 12)
    src = values.get(node.inputs[0], x)
    tab = sit.load_tables()["12"]
    np.testing.assert_array_equal(si_exp_spikes(node, src), _numpy_si_exp_spikes(src, tab["T"], tab["h"]))


def test_si_norm_zero_threshold_outputs_zero():
    """V_th ≤ 0 (no SI-exp spike) gives 0, not a division by zero, in all three runtimes."""
    model = sit.SINorm(dim=-1).eval()
    proto = to_onnx(model, torch.zeros(2, 1, 4))
    x = np.array([[[0, 0, 0, 0], [1, 3, 0, 0]], [[-1, 1, 0, 0], [2, 2, 0, 4]]], dtype=np.float32)
    want = np.where(x.sum(-1, keepdims=True) > 0, np.maximum(x / np.where(x.sum(-1, keepdims=True) > 0,
                                                                              x.sum(-1, keepdims=True), 1), 0), 0)
    np.testing.assert_allclose(_ort(proto, x)[0], want, rtol=1e-6)
    graph = import_onnx(proto)
    np.testing.assert_allclose(run(graph, {graph.inputs[0]: x})[graph.outputs[0]], want, rtol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), want, rtol=1e-6)


def test_stepped_si_norm_exports_unrolled():
    """Fig. 5a's stepped SI-norm has no snnc node: standard ops, equal to PyTorch, and to
    floor(T·w/V_th) written here."""
    model = sit.SINorm(timesteps=4).eval()
    proto = to_onnx(model, torch.zeros(2, 1, 4))
    assert not [n for n in proto.graph.node if n.domain == "snnc"]
    x = np.random.default_rng(3).uniform(0.1, 2, (2, 3, 4)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(_ort(proto, x)[0], want)
    ref = np.floor(4 * x / x.sum(-1, keepdims=True) + 1e-6)
    assert np.abs(want - ref).max() <= 1


def test_snnc_show_prints_the_ops(exported, tmp_path):
    _, proto = exported
    path = tmp_path / "sit.onnx"
    onnx.save(proto, path)
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "si_exp" in out.stdout and "si_norm" in out.stdout
