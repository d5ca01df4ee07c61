"""The simulator's counts are exact: ACs against brute-force counts written here (loops
over outputs and kernel taps), MACs, firing rates, neuron updates; batching changes
nothing; the interpreter and the torch engine agree with the numpy reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from snnc.backends.sim import Simulator, shape_inputs, simulate
from snnc.ir.build import emit
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph, Value
from snnc.ir.kinds import ANALOG, SPIKE, count
from conftest import require

T, N = 3, 2


def one_layer(op, in_shape, kind, attrs=None, params=None, axes="TN"):
    g = Graph("layer")
    g.add_input(Value("x", in_shape, kind=kind, axes=axes))
    emit(g, op, ["x"], name="layer", attrs=attrs or {}, params=params or {})
    g.outputs = ["layer"]
    return g


def spikes(rng, shape, p=0.4):
    return (rng.random(shape) < p).astype(np.float32)


def brute_conv_acs(x, weight_shape, strides, pads, dilations, group):
    """Synaptic events of a conv: (output channel, output position, input channel of its
    group, tap) whose input element is nonzero and inside the image (not padding)."""
    out_ch, cin_g = weight_shape[:2]
    kernel = weight_shape[2:]
    spatial = len(kernel)
    size = x.shape[3:]
    out = [(size[i] + pads[i] + pads[i + spatial] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1
           for i in range(spatial)]
    total = 0
    for o in range(out_ch):
        g = o // (out_ch // group)
        for pos in itertools.product(*map(range, out)):
            for tap in itertools.product(*map(range, kernel)):
                src = [pos[i] * strides[i] - pads[i] + tap[i] * dilations[i] for i in range(spatial)]
                if all(0 <= src[i] < size[i] for i in range(spatial)):
                    chans = slice(g * cin_g, (g + 1) * cin_g)
                    total += int(np.count_nonzero(x[(slice(None), slice(None), chans) + tuple(src)]))
    return total


CONVS = [
    dict(w=(6, 4, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1), dil=(1, 1), group=1),
    dict(w=(6, 2, 3, 3), strides=(2, 2), pads=(1, 0, 0, 1), dil=(1, 1), group=2),     # asymmetric pads, groups
    dict(w=(4, 1, 3, 2), strides=(1, 2), pads=(2, 1, 0, 1), dil=(2, 1), group=4),     # depthwise, dilation
    dict(w=(5, 4, 1, 1), strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1),     # 1x1
    dict(w=(3, 4, 3), strides=(2,), pads=(1, 1), dil=(1,), group=1),                   # 1-d
]


@pytest.mark.parametrize("case", CONVS, ids=["3x3-pad", "grouped-stride-asym", "depthwise-dilated", "1x1", "1d"])
def test_conv_acs_equal_a_brute_force_count(case, rng):
    spatial = len(case["w"]) - 2
    in_shape = (4,) + ((5,) * spatial)
    w = rng.standard_normal(case["w"]).astype(np.float32)
    attrs = dict(strides=list(case["strides"]), pads=list(case["pads"]), dilations=list(case["dil"]),
                 group=case["group"])
    g = one_layer("conv", in_shape, SPIKE, attrs, {"weight": w})
    x = spikes(rng, (T, N, *in_shape))
    res = simulate(g, {"x": x})
    layer = res.layers["layer"]
    want = brute_conv_acs(x, case["w"], case["strides"], case["pads"], case["dil"], case["group"])
    assert layer.acs * N == want and layer.macs == 0
    assert layer.firing_rate == pytest.approx(x.mean())
    # per step: the same count restricted to that step
    for t in range(T):
        assert layer.acs_per_step[t] == brute_conv_acs(x[t:t + 1], case["w"], case["strides"], case["pads"],
                                                       case["dil"], case["group"])
    # the outputs against PyTorch's convolution (ONNX pads are begin..., end...; F.pad
    # takes the last axis first)
    torch = require("torch")
    F = torch.nn.functional
    pads = case["pads"]
    pairs = [v for i in reversed(range(spatial)) for v in (pads[i], pads[i + spatial])]
    xt = F.pad(torch.from_numpy(x.reshape(T * N, *in_shape)), pairs)
    conv = F.conv1d if spatial == 1 else F.conv2d
    want_out = conv(xt, torch.from_numpy(w), stride=case["strides"], dilation=case["dil"], groups=case["group"])
    np.testing.assert_allclose(res.outputs["layer"].reshape(want_out.shape), want_out.numpy(), rtol=1e-5, atol=1e-5)


def test_count_inputs_are_macs_or_k_acs(rng):
    """A count(3) input: each nonzero element costs its fan-out in MACs (integer x float),
    or, with integer_as="acs", n ACs per synapse for a value n (Spikingformer App. F)."""
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    attrs = dict(pads=[1, 1, 1, 1])
    g = one_layer("conv", (4, 5, 5), count(3), attrs, {"weight": w})
    x = rng.integers(0, 4, (T, N, 4, 5, 5)).astype(np.float32)
    nonzero = brute_conv_acs(x, w.shape, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    weighted = sum(k * brute_conv_acs((x == k).astype(np.float32), w.shape, (1, 1), (1, 1, 1, 1), (1, 1), 1)
                   for k in (1, 2, 3))
    as_macs = simulate(g, {"x": x}).layers["layer"]
    assert (as_macs.macs * N, as_macs.acs) == (nonzero, 0)
    as_acs = simulate(g, {"x": x}, integer_as="acs").layers["layer"]
    assert (as_acs.acs * N, as_acs.macs) == (weighted, 0)
    assert weighted > nonzero


def test_analog_inputs_are_dense_macs(rng):
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    g = one_layer("conv", (3, 5, 5), ANALOG, dict(pads=[1, 1, 1, 1]), {"weight": w})
    layer = simulate(g, {"x": rng.random((T, N, 3, 5, 5), dtype=np.float32)}).layers["layer"]
    assert layer.macs == T * 6 * 5 * 5 * 3 * 9 == T * layer.flops and layer.acs == 0


def test_linear_and_conv_transpose_fanout(rng):
    w = rng.standard_normal((7, 5)).astype(np.float32)
    g = one_layer("linear", (3, 5), SPIKE, params={"weight": w})
    x = spikes(rng, (T, N, 3, 5))
    assert simulate(g, {"x": x}).layers["layer"].acs * N == np.count_nonzero(x) * 7
    # transposed conv: each input element reaches (O/g) channels x the taps that land inside
    wt = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)        # [Cin, O/g, kh, kw], group 2
    attrs = dict(strides=[2, 2], pads=[1, 1, 0, 1], group=2, output_padding=[1, 0])
    g = one_layer("conv_transpose", (4, 3, 4), SPIKE, attrs, {"weight": wt})
    x = spikes(rng, (T, N, 4, 3, 4))
    out_shape = g.values["layer"].shape[1:]
    want = 0
    for idx in zip(*np.nonzero(x)):
        i, j = idx[3:]
        inside = sum(1 for a, b in itertools.product(range(3), range(3))
                     if 0 <= i * 2 + a - 1 < out_shape[0] and 0 <= j * 2 + b - 1 < out_shape[1])
        want += 3 * inside
    assert simulate(g, {"x": x}).layers["layer"].acs * N == want


def test_matmul_counts_and_accumulates(rng):
    """spike @ spike: one AC per (m, k, n) with a[m,k] = b[k,n] = 1 (the AND-accumulates);
    spike @ analog: every nonzero product; analog @ analog: dense MACs."""
    g = Graph("mm")
    g.add_input(Value("a", (2, 4, 6), kind=SPIKE))
    g.add_input(Value("b", (2, 6, 3), kind=SPIKE))
    g.add_input(Value("c", (2, 6, 3), kind=ANALOG))
    emit(g, "matmul", ["a", "b"], name="ss")
    emit(g, "matmul", ["a", "c"], name="sa")
    g.outputs = ["ss", "sa"]
    a, b = spikes(rng, (T, N, 2, 4, 6)), spikes(rng, (T, N, 2, 6, 3))
    c = rng.standard_normal((T, N, 2, 6, 3)).astype(np.float32)
    c[c > 1.0] = 0.0
    res = simulate(g, {"a": a, "b": b, "c": c})
    and_count = sum(int(a[t, n, h, m, k] and b[t, n, h, k, j]) for t, n, h, m, k, j in
                    itertools.product(range(T), range(N), range(2), range(4), range(6), range(3)))
    nonzero_products = sum(int(a[t, n, h, m, k] != 0 and c[t, n, h, k, j] != 0) for t, n, h, m, k, j in
                           itertools.product(range(T), range(N), range(2), range(4), range(6), range(3)))
    assert res.layers["ss"].acs * N == and_count and res.layers["ss"].macs == 0
    assert res.layers["sa"].acs * N == nonzero_products
    np.testing.assert_array_equal(res.outputs["ss"], a @ b)
    g2 = Graph("dense")
    g2.add_input(Value("p", (4, 6)))
    g2.add_input(Value("q", (6, 3)))
    emit(g2, "matmul", ["p", "q"], name="pq")
    g2.outputs = ["pq"]
    res = simulate(g2, {"p": rng.random((T, N, 4, 6)), "q": rng.random((T, N, 6, 3))})
    assert res.layers["pq"].macs == T * 4 * 6 * 3 and res.layers["pq"].acs == 0


def small_snn():
    """conv -> LIF -> conv(spikes, padded) -> IF -> mean over time -> linear."""
    rng = np.random.default_rng(3)
    g = Graph("snn")
    g.add_input(Value("x", (2, 6, 6)))
    emit(g, "conv", ["x"], name="c1", attrs=dict(pads=[1, 1, 1, 1]),
         params={"weight": rng.standard_normal((4, 2, 3, 3)).astype(np.float32)})
    emit(g, "lif", ["c1"], name="n1", attrs=dict(tau=2.0, v_threshold=0.5))
    emit(g, "conv", ["n1"], name="c2", attrs=dict(pads=[1, 1, 1, 1], strides=[2, 2]),
         params={"weight": rng.standard_normal((4, 4, 3, 3)).astype(np.float32)})
    emit(g, "if", ["c2"], name="n2", attrs=dict(v_threshold=0.5))
    emit(g, "mean_time", ["n2"], name="rate")
    emit(g, "reshape", ["rate"], name="flat", attrs=dict(shape=[36]))
    emit(g, "linear", ["flat"], name="head", params={"weight": rng.standard_normal((3, 36)).astype(np.float32)})
    g.outputs = ["head"]
    return g


def test_neurons_batching_and_per_step(rng):
    g = small_snn()
    x = rng.random((5, 7, 2, 6, 6), dtype=np.float32) * 2
    whole = simulate(g, {"x": x}, record="neurons")
    ones = simulate(g, {"x": x}, batch_size=1, record="neurons")
    assert whole.samples == ones.samples == 7 and whole.timesteps == 5
    # samples never interact: same spikes; BLAS may round the head's sums differently per batch
    for name in ("n1", "n2"):
        np.testing.assert_array_equal(whole.recorded[name], ones.recorded[name])
    np.testing.assert_allclose(whole.outputs["head"], ones.outputs["head"], rtol=1e-5, atol=1e-6)
    # the head is the linear layer over n2's firing rate, computed here from the spikes
    w_head = g.node("head").params["weight"]
    want_head = whole.recorded["n2"].mean(0).reshape(7, 36) @ w_head.T
    np.testing.assert_allclose(whole.outputs["head"], want_head, rtol=1e-5, atol=1e-5)
    for name, layer in whole.layers.items():
        other = ones.layers[name]
        assert (layer.acs, layer.macs, layer.spikes, layer.neuron_updates) == \
               (other.acs, other.macs, other.spikes, other.neuron_updates), name
    n1, n2 = whole.recorded["n1"], whole.recorded["n2"]
    assert whole.layers["n1"].spikes * 7 == n1.sum() and whole.layers["n1"].neuron_updates == 5 * 4 * 36
    assert whole.layers["n2"].spikes * 7 == n2.sum() and whole.layers["n2"].neuron_updates == 5 * 4 * 9
    assert whole.layers["n1"].firing_rate == pytest.approx(n1.mean())
    assert whole.layers["c2"].acs * 7 == brute_conv_acs(n1, (4, 4, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1)
    # the head reads the mean over time: it runs once per sample, densely
    assert whole.layers["head"].steps == 1 and whole.layers["head"].macs == 3 * 36
    # per step totals add up to the totals
    assert whole.per_step("acs_per_step").sum() == pytest.approx(whole.total("acs"))
    assert whole.per_step("spikes_out").sum() == pytest.approx(whole.total("spikes"))


def test_torch_engine_matches_numpy(rng):
    require("torch")
    g = Graph("mix")
    g.add_input(Value("x", (4, 7, 6)))
    emit(g, "conv", ["x"], name="c", attrs=dict(pads=[1, 0, 2, 1], strides=[2, 1], dilations=[1, 2], group=2),
         params={"weight": rng.standard_normal((6, 2, 3, 2)).astype(np.float32),
                 "bias": rng.standard_normal(6).astype(np.float32)})
    emit(g, "lif", ["c"], name="n")
    emit(g, "reshape", ["n"], name="r", attrs=dict(shape=[6, 4 * 5]))
    emit(g, "linear", ["r"], name="l", params={"weight": rng.standard_normal((3, 20)).astype(np.float32)})
    g.outputs = ["l", "c"]
    x = rng.standard_normal((T, N, 4, 7, 6)).astype(np.float32)
    a, b = simulate(g, {"x": x}), simulate(g, {"x": x}, engine="torch")
    for name in g.outputs:
        np.testing.assert_allclose(b.outputs[name], a.outputs[name], rtol=1e-5, atol=1e-5)
    assert a.layers["l"].acs == b.layers["l"].acs


def test_inputs_are_shaped_or_refused(rng):
    g = small_snn()
    static = rng.random((3, 2, 6, 6), dtype=np.float32)
    feeds = shape_inputs(g, static, timesteps=4)
    assert feeds["x"].shape == (4, 3, 2, 6, 6) and np.array_equal(feeds["x"][2], static)
    assert shape_inputs(g, static[0])["x"].shape == (4, 1, 2, 6, 6)          # one sample, default T=4
    assert shape_inputs(g, {"x": rng.random((2, 3, 2, 6, 6))})["x"].shape == (2, 3, 2, 6, 6)
    with pytest.raises(SnncError, match=r"input 'x' has shape \[3, 2, 5, 6\]; the model takes samples"):
        shape_inputs(g, rng.random((3, 2, 5, 6)))
    with pytest.raises(SnncError, match="has 2 time steps but timesteps=4"):
        shape_inputs(g, rng.random((2, 3, 2, 6, 6)), timesteps=4)
    with pytest.raises(SnncError, match="unknown input 'y'"):
        shape_inputs(g, {"x": static, "y": static})
    with pytest.raises(SnncError, match="batch size must be >= 1"):
        Simulator(g).simulate(feeds, batch_size=0)
    with pytest.raises(SnncError, match="unknown engine 'jax'"):
        Simulator(g, engine="jax")
    with pytest.raises(SnncError, match="cannot record"):
        Simulator(g, record=["nope"])
    with pytest.raises(SnncError, match="unknown numerics 'double'"):
        simulate(g, static, numerics="double")


def test_progress_bar_and_digits(capsys):
    require("tqdm")
    from snnc.backends.sim import digits_inputs

    g = small_snn()
    g.values["x"].shape = (2, 6, 6)
    with pytest.raises(SnncError, match="--digits needs an image input"):
        digits_inputs(_flat_input_graph(), 2)
    feeds, labels = digits_inputs(g, 5)
    assert feeds["x"].shape == (5, 2, 6, 6) and list(labels) == [0, 1, 2, 3, 4]
    assert 0.0 <= feeds["x"].min() and feeds["x"].max() <= 1.0
    Simulator(g, progress=True).simulate(shape_inputs(g, feeds), batch_size=2)
    assert "simulating" in capsys.readouterr().err


def _flat_input_graph():
    g = Graph("flat")
    g.add_input(Value("v", (10,)))
    emit(g, "relu", ["v"], name="r")
    g.outputs = ["r"]
    return g


def test_loihi_numerics_need_the_quantiser(monkeypatch, rng):
    """Without snnc.backends.loihi.quantize the loihi-quantize pass is a clear error; the
    simulator runs a float graph as loihi only after that pass (it quantises nothing)."""
    import sys

    from snnc.passes import run_pipeline

    x = rng.random((1, 2, 6, 6), dtype=np.float32)
    with pytest.raises(SnncError, match="numerics 'loihi' runs a program in Loihi numerics.*loihi-quantize"):
        simulate(small_snn(), x, numerics="loihi")
    monkeypatch.setitem(sys.modules, "snnc.backends.loihi.quantize", None)
    with pytest.raises(SnncError, match="numerics 'loihi' needs snnc.backends.loihi.quantize"):
        run_pipeline(small_snn(), "loihi-quantize")


def test_loihi_program_runs_and_is_counted_like_any_graph(rng):
    """--numerics loihi: the quantiser's integer program goes through the same interpreter
    and the same counting rules (its synapses declare the same fan-out)."""
    require("snnc.backends.loihi.quantize")
    from snnc.passes import run_pipeline

    g = small_snn()
    feeds = shape_inputs(g, rng.random((3, 2, 6, 6), dtype=np.float32), timesteps=4)
    q = run_pipeline(g, "loihi-quantize", options={"loihi-quantize": {"calibration": feeds}})
    synapse = q.node("c2")
    assert synapse.op.startswith("loihi_")
    res = Simulator(q, record=[synapse.inputs[0]]).simulate(feeds)
    s = res.recorded[synapse.inputs[0]]
    assert set(np.unique(s)) <= {0.0, 1.0} and s.any()
    w = synapse.params.get("weight", g.node("c2").params["weight"]).shape
    assert res.layers["c2"].acs * 3 == brute_conv_acs(s, w, (2, 2), (1, 1, 1, 1), (1, 1), 1)
    assert res.layers["c2"].macs == 0


def test_auto_batch_size_bounds_memory():
    from snnc.backends.sim.simulator import MEMORY_BUDGET

    g = small_snn()
    feeds = {"x": np.zeros((4, 3, 2, 6, 6), np.float32)}
    small = Simulator(g).auto_batch_size(feeds)
    big = Graph("big")
    big.add_input(Value("x", (64, 224, 224)))
    emit(big, "lif", ["x"], name="n")
    big.outputs = ["n"]
    large = Simulator(big).auto_batch_size({"x": np.zeros((1, 1, 64, 224, 224), np.float32)})
    per_sample = 64 * 224 * 224 * 4 * 1          # one step of the largest value
    assert small > 1000 and 1 <= large <= MEMORY_BUDGET // (8 * per_sample)
