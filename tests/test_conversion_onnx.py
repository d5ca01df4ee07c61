"""ECMT conversion ops in the snnc ONNX dialect: onnxruntime on the exported file equals
PyTorch (spike for spike for MultiThreshold), exported once and run at two (T, N)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from snnc.nn import CumMean, Delta, ExpectationCompensation, MultiThreshold, SpikingMatMul
from snnc.onnx.export import to_onnx
from onnx_helpers import run_ort

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


@pytest.mark.parametrize("theta,channels,gap", [(0.25, 3, 2.0), ([0.1, 0.5, 0.3], 3, 2.0),
                                                (0.4, 2, 3.0)])
def test_multithreshold_spike_for_spike(theta, channels, gap):
    model = MultiThreshold(levels=4, theta_pos=theta, theta_neg=None, gap=gap)
    proto = _export(model, torch.randn(4, 2, channels, 5))
    node = [n for n in proto.graph.node if n.domain == "snnc"]
    assert [n.op_type for n in node] == ["MultiThreshold"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node[0].attribute}
    assert attrs["levels"] == 4 and attrs["gap"] == gap
    np.testing.assert_array_equal(np.float32(attrs["theta_pos"]), np.float32(np.atleast_1d(theta)))
    rng = np.random.default_rng(0)
    for t, n in SHAPES:
        x = (rng.standard_normal((t, n, channels, 5)) * 2).astype(np.float32)
        want = model(torch.from_numpy(x)).detach().numpy()
        got = _ort(proto, x)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        assert np.count_nonzero(want) > 0 and len(np.unique(want)) > 3   # graded, both signs


def test_multithreshold_asymmetric_thresholds_and_rank2():
    model = MultiThreshold(levels=3, theta_pos=0.5, theta_neg=0.125)
    proto = _export(model, torch.randn(3, 2, 6))
    rng = np.random.default_rng(1)
    for t, n in SHAPES:
        x = rng.standard_normal((t, n, 6)).astype(np.float32)
        np.testing.assert_array_equal(_ort(proto, x), model(torch.from_numpy(x)).detach().numpy())


@pytest.mark.parametrize("module", [CumMean(), Delta()])
def test_cum_mean_and_delta(module):
    proto = _export(module, torch.randn(3, 2, 4, 5))
    assert _snnc_ops(proto) == [type(module).__name__]
    rng = np.random.default_rng(2)
    for t, n in SHAPES:
        x = rng.standard_normal((t, n, 4, 5)).astype(np.float32)
        np.testing.assert_allclose(_ort(proto, x), module(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-5)


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
