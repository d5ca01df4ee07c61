"""Lava itself: every layer's spikes from the simulator's loihi numerics equal Lava's
(``Loihi2SimCfg(select_tag="fixed_pt")``), spike for spike, on random networks and on
the tiny Spikingformer's tokenizer. In CI (CI=true) these run, never skip."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require

from snnc.backends.loihi.quantize import quantize
from snnc.backends.loihi.run import run_loihi
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.kinds import SPIKE

from loihi_nets import VARIANTS, dyadic_net, float_net, int_net, net_input, record, spikes

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module", autouse=True)
def _lava(lava):
    """Every test here runs on Lava (conftest's ``lava``: never skipped in CI)."""


def assert_same_everywhere(graph, x, *, align=False, **kwargs):
    """Simulator and Lava on the same input: every probed layer and every output equal."""
    sim = run_loihi(graph, {"x": x}, align=align)
    lava = run_loihi(graph, {"x": x}, engine="lava", align=align, **kwargs)
    assert sim.values.keys() == lava.values.keys() and sim.values
    for name, want in sim.values.items():
        got = lava.values[name]
        assert got.shape == want.shape and got.dtype == want.dtype, name
        diff = np.argwhere(got != want)
        assert diff.size == 0, f"{name}: {len(diff)} differences, first at [t, n, ...] = {diff[0].tolist()}"
    for name, want in sim.outputs.items():
        np.testing.assert_array_equal(lava.outputs[name], want, err_msg=name)
    return sim, lava


def _active(values):
    """Every neuron layer spikes somewhere, and not everywhere: the comparison means something."""
    for name, v in values.items():
        if v.dtype == np.float32:
            assert 0 < v.mean() < 1, f"{name} is {'silent' if v.mean() == 0 else 'saturated'}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_random_quantised_networks_are_bit_exact(variant):
    g, shape = float_net(variant, 11)
    rng = np.random.default_rng(11)
    x = net_input(variant, rng, 12, 3, shape)
    q = quantize(g, calibration={"x": x})
    sim, _ = assert_same_everywhere(q, x, align=True)
    _active(sim.values)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_integer_programs_are_bit_exact(seed):
    """Any du, dv, vth, bias mantissa/exponent, weight_exp of both signs, fewer weight bits,
    dense weights Lava must clip and truncate."""
    g, shape = int_net(seed)
    x = spikes(np.random.default_rng(seed), (14, 2, *shape), 0.5)
    sim, _ = assert_same_everywhere(g, x)
    _active(sim.values)


def test_inputs_that_hit_the_threshold_exactly():
    """Three neuron layers see the same sums; v lands exactly on vth << 6 in one of them.
    Lava and the simulator agree that a tie does not fire (v > vth) and one more does."""
    g = Graph("ties")
    g.add_input(Value("x", (4,), kind=SPIKE))
    w = np.array([[5, 0, 0, 0], [5, 5, 0, 0], [5, 5, 5, 0], [5, 5, 5, 5]], np.int32)    # sums 5·k
    for vth in (9, 10, 11):
        emit(g, "loihi_dense", ["x"], name=f"d{vth}", params={"weight": w})
        emit(g, "loihi_lif", [f"d{vth}"], name=f"n{vth}", attrs={"du": 4095, "dv": 0, "vth": vth})
    g.outputs = ["n9", "n10", "n11"]
    x = np.zeros((6, 1, 4), np.float32)
    x[0] = 1                                            # one volley: sums 5, 10, 15, 20
    x[2, 0, 0] = 1                                      # then 5 more into every neuron
    sim, lava = assert_same_everywhere(g, x)
    ties = 0
    for vth in (9, 10, 11):            # independent: no leak, v = 64·(sum since the last spike)
        v, want = np.zeros(4, np.int64), np.zeros((6, 4), np.float32)
        for t in range(1, 6):
            v = v + 64 * (w @ x[t - 1, 0].astype(np.int64))
            ties += int((v == 64 * vth).sum())
            want[t] = v > 64 * vth
            v[v > 64 * vth] = 0
        np.testing.assert_array_equal(lava.values[f"n{vth}"][:, 0], want)
    assert ties >= 3


def test_float_ties_stay_exact_on_lava():
    """The quantiser's h >= θ mapping, on Lava: a dyadic IF network equals the float graph."""
    g = dyadic_net("if")
    x = spikes(np.random.default_rng(1), (12, 4, 12), 0.4)
    fl = record(g, {"x": x})
    sim, lava = assert_same_everywhere(quantize(g), x, align=True)
    np.testing.assert_array_equal(lava.values["n2"], fl["n2"])


def test_spikingformer_tokenizer_is_bit_exact(tiny_tokenizer):
    """conv, folded BN, LIF, maxpool: the tiny Spikingformer's tokenizer, exported from
    PyTorch, imported, BN folded, quantised; a batch that takes two Lava runs."""
    graph, x = tiny_tokenizer
    q = quantize(graph, calibration={"x": x})
    ops = {n.op for n in q.nodes}
    assert {"loihi_conv", "loihi_lif", "loihi_encode", "loihi_dequant"} <= ops
    sim, lava = assert_same_everywhere(q, x)
    assert lava.lava_runs == 2                   # 32 pooled channels x 4 samples > Lava's 127 groups
    assert set(sim.values) >= {"proj1_lif", "proj2_lif", "proj3_lif", "proj4_lif", "maxpool.maxpool",
                               "maxpool.maxpool_1"}
    _active(sim.values)


@pytest.fixture(scope="module")
def tiny_tokenizer():
    torch = require("torch")
    from snnc.models import config
    from snnc.models.spikingformer import SpikingTokenizer
    from snnc.onnx.export import to_onnx
    from snnc.onnx.importer import import_onnx
    from snnc.passes.fold_bn import fold_batchnorm

    from conftest import randomize_batchnorm

    cfg = config("tiny")
    torch.manual_seed(0)
    model = SpikingTokenizer(cfg.in_channels, cfg.embed_dim, cfg.downsamplings).eval()
    randomize_batchnorm(model)
    with torch.no_grad():                     # enough drive that every layer spikes within T
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(6.0)
    size = cfg.img_size
    graph = fold_batchnorm(import_onnx(to_onnx(model, torch.rand(2, 2, cfg.in_channels, size, size))))
    assert not any(n.op == "batchnorm" for n in graph.nodes)
    x = np.random.default_rng(0).random((10, 4, cfg.in_channels, size, size)).astype(np.float32) * 2
    return graph, x


def test_a_conv_over_an_axis_of_128_or_more():
    """Lava's Conv keeps padding, stride, kernel size and dilation as int8 Vars and adds them
    to the input's size: under numpy 2 an axis of 128 or more overflowed in the worker
    (lava_compat rewrites conv/utils.py to compute with Python ints). Lava must run it and
    equal the simulator; the width stays a real 130 neurons per row."""
    from loihi_nets import _Net

    g = _Net(3, "wide", (2, 3, 130)).conv(3, 3, pad=1, gain=2.0).lif().done()
    x = spikes(np.random.default_rng(3), (4, 1, 2, 3, 130))
    q = quantize(g, calibration={"x": x})
    sim, _ = assert_same_everywhere(q, x)
    (out,) = [v for v in sim.values.values() if v.shape[-1] == 130]
    assert 0 < out.mean() < 1
