"""ECMT conversion ops in the snnc ONNX dialect: onnxruntime on the exported file equals
PyTorch (spike for spike for MultiThreshold), exported once and run at two (T, N)."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from torch import nn

from snnc.nn import CumMean, Delta, ExpectationCompensation, MultiThreshold, SpikingMatMul
from snnc.onnx.export import to_onnx
from onnx_helpers import run_ort, run_reference

SHAPES = [(3, 2), (7, 4)]          # (T, N): the export used neither


class TwoInputs(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.op = module

    def forward(self, a, b):
        return self.op(a, b)


def _snnc_ops(proto):
    return [n.op_type for n in proto.graph.node if n.domain == "snnc"]


def _export(model, *example):
    proto = to_onnx(model, example if len(example) > 1 else example[0])
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _feeds(proto, arrays):
    return {i.name: a for i, a in zip(proto.graph.input, arrays)}


def _ort(proto, *arrays):
    return run_ort(proto, _feeds(proto, arrays))[proto.graph.output[0].name]


class Neurons(nn.Module):
    """Four multi-threshold neurons on one input [T, N, 3, 5]: per-tensor θ (gap 2),
    per-channel θ, gap 3 with θ⁻ ≠ θ⁺ (3 levels), and gap 1.7 (not a float32 number: the
    attribute, the body's Pow and the module all use float32 1.7 and float32 powers)."""

    def __init__(self):
        super().__init__()
        self.scalar = MultiThreshold(levels=4, theta_pos=0.25)
        self.channels = MultiThreshold(levels=4, theta_pos=[0.1, 0.5, 0.3], theta_neg=[0.2, 0.1, 0.4])
        self.gap3 = MultiThreshold(levels=3, theta_pos=0.4, theta_neg=0.125, gap=3.0)
        self.odd = MultiThreshold(levels=8, theta_pos=0.013, gap=1.7)

    def forward(self, x):
        return self.scalar(x), self.channels(x), self.gap3(x), self.odd(x)


def test_multithreshold_spike_for_spike():
    model = Neurons()
    proto = _export(model, torch.randn(4, 2, 3, 5))
    nodes = {n.name.split("/")[1]: n for n in proto.graph.node if n.domain == "snnc"}
    assert sorted(nodes) == ["channels", "gap3", "odd", "scalar"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes["channels"].attribute}
    assert attrs["levels"] == 4 and attrs["gap"] == 2.0
    np.testing.assert_array_equal(np.float32(attrs["theta_pos"]), np.float32([0.1, 0.5, 0.3]))
    np.testing.assert_array_equal(np.float32(attrs["theta_neg"]), np.float32([0.2, 0.1, 0.4]))
    rng = np.random.default_rng(0)
    for t, n in SHAPES:
        x = (rng.standard_normal((t, n, 3, 5)) * 2).astype(np.float32)
        got = run_ort(proto, _feeds(proto, [x]))
        with torch.no_grad():
            want = model(torch.from_numpy(x))
        for out, w in zip(proto.graph.output, want):
            w = w.numpy()
            np.testing.assert_array_equal(got[out.name], w)
            assert np.count_nonzero(w) > 0 and len(np.unique(w)) > 3      # graded, both signs
    # onnx.reference runs the function bodies too (the last x), spike for spike
    ref = run_reference(proto, _feeds(proto, [x]))
    for out, w in zip(proto.graph.output, want):
        np.testing.assert_array_equal(ref[out.name], w.numpy())


class TimeOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean, self.delta = CumMean(), Delta()

    def forward(self, x):
        return self.mean(x), self.delta(x)


def test_cum_mean_and_delta():
    model = TimeOps()
    proto = _export(model, torch.randn(3, 2, 4, 5))
    assert _snnc_ops(proto) == ["CumMean", "Delta"]
    rng = np.random.default_rng(2)
    for t, n in SHAPES:
        x = rng.standard_normal((t, n, 4, 5)).astype(np.float32)
        got = run_ort(proto, _feeds(proto, [x]))
        for out, w in zip(proto.graph.output, model(torch.from_numpy(x))):
            np.testing.assert_allclose(got[out.name], w.numpy(), rtol=1e-5, atol=1e-5)


def test_expectation_compensation_is_cum_mean_f_delta():
    model = ExpectationCompensation(nn.Sequential(nn.LayerNorm(6), nn.GELU()))
    with torch.no_grad():
        model.f[0].weight.uniform_(0.5, 1.5)
    proto = _export(model, torch.randn(3, 2, 4, 6))
    ops = [n.op_type for n in proto.graph.node]
    assert _snnc_ops(proto) == ["CumMean", "Delta"]
    assert ops.index("CumMean") < ops.index("LayerNormalization") < ops.index("Delta")
    rng = np.random.default_rng(3)
    for t, n in SHAPES:
        x = rng.standard_normal((t, n, 4, 6)).astype(np.float32)
        np.testing.assert_allclose(_ort(proto, x), model(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_spiking_matmul_two_inputs():
    model = TwoInputs(SpikingMatMul())
    proto = _export(model, torch.randn(3, 2, 2, 4, 5), torch.randn(3, 2, 2, 5, 3))
    assert _snnc_ops(proto) == ["SpikingMatMul"]
    rng = np.random.default_rng(4)
    for t, n in SHAPES:
        # graded spike streams, as a MultiThreshold makes them
        a = (rng.integers(-2, 3, (t, n, 2, 4, 5)) * 0.25).astype(np.float32)
        b = (rng.integers(-2, 3, (t, n, 2, 5, 3)) * 0.5).astype(np.float32)
        want = model(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(_ort(proto, a, b), want, rtol=1e-5, atol=1e-5)
