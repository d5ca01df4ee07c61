"""The loihi op family against independent re-statements of lava-nc's fixed-point models
(plain Python integers, torch's conv), and the quantiser's mapping of SpikingJelly's
neurons onto them. No Lava here: tests/test_lava_*.py compare with Lava itself."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest
import torch

from snnc.backends.loihi import widths
from snnc.backends.loihi.chip import plan
from snnc.backends.loihi.quant_table import table_lines
from snnc.backends.loihi.quantize import latency, quantize
from snnc.backends.loihi.run import run_loihi
from snnc.ir.build import emit
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph, Value
from snnc.ir.interpret import run
from snnc.ir.kinds import SPIKE
from snnc.ir.serialize import from_json, to_json

from loihi_nets import VARIANTS, dyadic_net, float_net, int_net, net_input, record, spikes
from loihi_spec import check_fused_layer, conv_one_step_late, lava_lif_python


def _single(op, shape, params, attrs, x, kind=None):
    g = Graph("one")
    g.add_input(Value("x", shape, dtype="int32" if kind is None else "float32", kind=kind or SPIKE))
    emit(g, op, ["x"], name="y", params=params, attrs=attrs)
    g.outputs = ["y"]
    return run(g, {"x": x})["y"]


@pytest.mark.parametrize("seed", range(4))
def test_lif_is_lavas_bit_accurate_lif(seed):
    rng = np.random.default_rng(seed)
    shape = (6,)
    a = rng.integers(-2 ** 12, 2 ** 12, (15, 2, *shape)).astype(np.int32)
    a[3] = 2 ** 17 + 5                    # 64·a overflows 24 bits: u wraps
    mant = rng.integers(-4096, 4096, shape).astype(np.int32)
    exp = rng.integers(0, 8, shape).astype(np.int32)
    du, dv, vth = int(rng.integers(0, 4096)), int(rng.integers(0, 4096)), int(rng.integers(0, 2 ** 12))
    start = int(rng.integers(0, 6))
    got = _single("loihi_lif", shape, {"bias_mant": mant, "bias_exp": exp},
                  {"du": du, "dv": dv, "vth": vth, "start": start}, a)
    want = np.stack([lava_lif_python(a[:, n], du, dv, vth, mant.astype(np.int64) << exp, start)
                     for n in range(2)], 1)
    assert 0 < want.mean() < 1
    np.testing.assert_array_equal(got, want)


def test_lif_threshold_is_strict():
    """v == vth << 6 does not fire, one more does (Lava's ``v > vth``)."""
    a = np.array([[[9, 10, 11]]], np.int32)       # du=dv=4095: v = 64·a after one step
    got = _single("loihi_lif", (3,), {}, {"du": 4095, "dv": 4095, "vth": 10}, a)
    assert got[0, 0].tolist() == [0, 0, 1]


def lava_dense_python(w, x, exp, bits, graded):
    """AbstractPyDenseModelBitAcc: clip to 8 bits, truncate, accumulate, shift, delay one step."""
    mode = "exc" if w.min() >= 0 else "inh" if w.max() <= 0 else "mixed"
    sign = -1 if mode == "inh" else 1
    lo = -256 if mode == "mixed" else 0
    drop = 8 - bits + (mode == "mixed")
    wq = [[sign * (((min(max(sign * int(v), lo), 255)) >> drop) << drop) for v in row] for row in w]
    out = np.zeros((x.shape[0], x.shape[1], w.shape[0]), np.int64)
    for t in range(1, x.shape[0]):
        for n in range(x.shape[1]):
            for o in range(w.shape[0]):
                acc = sum(wq[o][i] * (int(x[t - 1, n, i]) if graded else int(x[t - 1, n, i] != 0))
                          for i in range(w.shape[1]))
                out[t, n, o] = acc << exp if exp >= 0 else acc >> -exp
    return out


@pytest.mark.parametrize("lo,exp,bits,graded", [(-300, 0, 8, False), (0, 2, 6, False), (-300, -1, 7, True),
                                                (-255, 1, 8, False)])
def test_dense_is_lavas_dense(lo, exp, bits, graded):
    rng = np.random.default_rng(abs(lo) + exp + bits)
    w = rng.integers(lo, 300 if lo < 0 or lo == 0 else 0, (5, 7)).astype(np.int32)
    if lo == -255:
        w = -np.abs(w)                     # inhibitory
    x = rng.integers(-20, 21, (6, 2, 7)).astype(np.int32) if graded else spikes(rng, (6, 2, 7)).astype(np.int32)
    got = _single("loihi_dense", (7,), {"weight": w},
                  {"weight_exp": exp, "num_weight_bits": bits, "num_message_bits": 8 if graded else 0}, x)
    np.testing.assert_array_equal(got, lava_dense_python(w, x, exp, bits, graded))


@pytest.mark.parametrize("stride,pad,dil,group,exp", [(1, 1, 1, 1, 0), (2, 1, 1, 2, 1), (1, 2, 2, 1, 0),
                                                       (2, 0, 1, 4, 3)])
def test_conv_is_an_integer_cross_correlation_one_step_late(stride, pad, dil, group, exp):
    rng = np.random.default_rng(stride + pad + dil + group)
    w = rng.integers(-256, 256, (8, 4 // group, 3, 3)).astype(np.int32)
    x = spikes(rng, (5, 2, 4, 9, 9), 0.4)
    got = _single("loihi_conv", (4, 9, 9), {"weight": w},
                  {"strides": [stride] * 2, "pads": [pad] * 4, "dilations": [dil] * 2, "group": group,
                   "weight_exp": exp}, x, kind=SPIKE)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x.reshape(10, 4, 9, 9)).double(),
                                     torch.from_numpy(w).double() * 2 ** exp, stride=stride, padding=pad,
                                     dilation=dil, groups=group).numpy().reshape(5, 2, 8, *got.shape[3:])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got[0], 0)
    np.testing.assert_array_equal(got[1:], ref[:-1])


def test_conv_wraps_to_24_bits():
    w = np.full((1, 1, 1, 1), 2 ** 22, np.int32)
    x = np.full((2, 1, 1, 1, 3), 3.0, np.float32)          # 3·2^22 > 2^23: wraps negative
    got = _single("loihi_conv", (1, 1, 3), {"weight": w}, {"num_message_bits": 8}, x, kind=SPIKE)
    assert got[1, 0, 0, 0, 0] == 3 * 2 ** 22 - 2 ** 24


def test_latency_counts_synapses_on_the_longest_path():
    g, _ = float_net("pool", 0)
    lag = latency(quantize(g))
    assert lag["lif2"] == 1 and lag["pool3"] == 2 and lag["lif5"] == 3 and lag["pool6"] == 4 and lag["lif9"] == 5


# -- the quantiser -------------------------------------------------------------------------
@pytest.mark.parametrize("v_reset", [0.0, 0.25])
def test_if_network_is_exact_ties_included(v_reset):
    """h >= θ maps onto Lava's v > vth exactly: an IF network whose float sums land on the
    threshold (ties) spikes identically in float and in Loihi numerics, step for step."""
    g = dyadic_net("if", v_reset)
    x = spikes(np.random.default_rng(1), (16, 8, 12), 0.4)
    fl = record(g, {"x": x})
    # independent: the float charge of the first layer, and how often it ties θ exactly
    v, ties = np.full((8, 10), v_reset, np.float64), 0
    for t in range(16):
        h = v + x[t] @ g.node("fc1").params["weight"].T.astype(np.float64)
        ties += int((h == 1.0).sum())
        v = np.where(h >= 1.0, v_reset, h)
    assert ties >= 5, "the test needs inputs that hit the threshold exactly"
    q = quantize(g)
    lo = run_loihi(q, {"x": x}, align=True)
    np.testing.assert_array_equal(lo.values["n1"], fl["n1"])
    np.testing.assert_array_equal(lo.values["n2"], fl["n2"])
    assert q.node("n1").attrs["vth"] == 256 * (1 - v_reset) - 1   # k = 256: θ_int = 256·(θ - v_reset)
    assert q.node("fc1").params["weight"][0, 0] == 254


def test_lif_first_step_ties_fire():
    g = dyadic_net("lif")
    x = spikes(np.random.default_rng(3), (1, 64, 12), 0.5)
    h = 0.5 * (x[0] @ g.node("fc1").params["weight"].T.astype(np.float64))     # V0 = 0, H = X/τ
    assert (h == 1.0).sum() >= 3 and ((h < 1.0) & (h >= 1.0 - 1 / 16)).sum() >= 1
    lo = run_loihi(quantize(g), {"x": x}, align=True)
    np.testing.assert_array_equal(lo.values["n1"][0], (h >= 1.0).astype(np.float32))


@pytest.mark.parametrize("variant", VARIANTS)
def test_quantised_networks_follow_the_float_ones(variant):
    """Every layer's integers follow the quantiser's rules as loihi_spec.py writes them
    (not the quantiser's own report), and the spikes mostly follow the float graph's."""
    g, shape = float_net(variant, 5)
    rng = np.random.default_rng(5)
    x = net_input(variant, rng, 10, 4, shape)
    q = quantize(g, calibration={"x": x})
    fl, lo = record(g, {"x": x}), run_loihi(q, {"x": x}, align=True)
    assert not widths.problems(q)
    checked = []
    for node in q.nodes:
        if node.op != "loihi_lif":
            continue
        syn = q.producer(node.inputs[0])
        src = q.producer(syn.inputs[0])
        if g.node(node.name).op == "maxpool":          # an all-ones depthwise conv that fires at any spike
            assert syn.name == f"{node.name}.count" and np.all(syn.params["weight"] == 1)
            assert node.attrs["vth"] == 0 and node.attrs["dv"] == 4095 and node.attrs.get("du", 4095) == 4095
            continue
        per_level, x_max = 1.0, 1
        if src is not None and src.op == "loihi_encode":
            # graded input: levels span the calibration range symmetrically, 2^(bits-1) - 1 of them
            hi = src.attrs["hi"]
            assert src.attrs["lo"] == -hi and (hi + 1) & hi == 0
            np.testing.assert_allclose(src.attrs["scale"], hi / float(np.abs(x).max()), rtol=1e-12)
            per_level, x_max = src.attrs["scale"], hi
        check_fused_layer(g, q, syn.name, node.name, per_level, x_max)
        checked.append(node.name)
    float_neurons = [n.name for n in g.nodes if n.op in ("lif", "if")]
    assert checked == float_neurons
    for name, spikes_q in lo.values.items():
        if spikes_q.dtype == np.float32:
            agree = (spikes_q == fl[name]).mean()
            assert agree >= 0.85, f"{name}: only {agree:.1%} of spikes agree with the float graph"
    text = "\n".join(table_lines(q))
    for layer in q.meta["loihi"]["layers"]:
        assert layer["layer"] in text


def test_graph_without_alignment_is_lavas_integer_model():
    """Unaligned, the quantised conv network is Lava's integer model chained by hand:
    each conv a cross-correlation one step late, each neuron PyLifResetModelBitAcc started
    at its depth (1, 2, 3), with dv = round(4096/τ) and vth = k·θ − 1 from the float graph."""
    g, shape = float_net("conv", 2)
    x = spikes(np.random.default_rng(0), (7, 3, *shape))
    q = quantize(g)
    a = x
    for depth, (syn, neuron) in enumerate([("conv1", "lif2"), ("conv3", "lif4"), ("conv5", "if6")], start=1):
        check_fused_layer(g, q, syn, neuron)
        lif = q.node(neuron)
        assert lif.attrs["start"] == depth
        current = conv_one_step_late(a, q.node(syn).params["weight"], g.node(syn).attrs)
        bias = np.zeros(current.shape[2:], np.int64)
        if "bias_mant" in lif.params:
            bias = bias + (lif.params["bias_mant"].astype(np.int64) << lif.params["bias_exp"])
        a = np.stack([lava_lif_python(current[:, n], lif.attrs.get("du", 4095), lif.attrs.get("dv", 0),
                                      lif.attrs["vth"], bias, depth) for n in range(x.shape[1])], 1)
    assert 0 < a.mean() < 1, "the last layer must spike, and not everywhere"
    np.testing.assert_array_equal(run_loihi(q, {"x": x}).outputs[g.outputs[0]], a)
    np.testing.assert_array_equal(run(q, {"x": x})[g.outputs[0]], a)
    q2 = from_json(to_json(q))                         # integer params survive the round trip
    np.testing.assert_array_equal(run(q2, {"x": x})[g.outputs[0]], a)


def _conv_bn_lif() -> Graph:
    g = Graph("bn")
    g.add_input(Value("x", (2, 5, 5), kind=SPIKE))
    emit(g, "conv", ["x"], name="conv", params={"weight": np.ones((3, 2, 3, 3), np.float32)}, attrs={"pads": [1] * 4})
    emit(g, "batchnorm", ["conv"], name="bn", params={k: np.ones(3, np.float32) for k in ("scale", "bias", "mean", "var")})
    emit(g, "lif", ["bn"], name="lif", attrs={"soft_reset": 1})
    g.outputs = ["lif"]
    return g


def test_what_lava_cannot_do_is_listed_at_once():
    with pytest.raises(SnncError) as err:
        quantize(_conv_bn_lif())
    text = "\n".join(err.value.lines())
    assert "'bn'" in text and "fold-bn" in text and "soft reset" in text and "'lif'" in text
    assert len(err.value.problems) == 2


def test_unrepresentable_threshold_stays_on_the_host_with_the_reason():
    g = Graph("tiny_theta")
    g.add_input(Value("x", (4,), kind=SPIKE))
    emit(g, "linear", ["x"], name="fc", params={"weight": np.full((2, 4), 10.0, np.float32)})
    emit(g, "if", ["fc"], name="n", attrs={"v_threshold": 0.01})
    g.outputs = ["n"]
    q = quantize(g)
    assert [n.op for n in q.nodes] == ["linear", "if"]        # as it was, in float
    assert [e["node"] for e in q.meta["loihi"]["host"]] == ["fc", "n"]      # the layer: synapse and neuron
    for entry in q.meta["loihi"]["host"]:
        assert re.search(r"'n'.*threshold 0.01 is below one integer step.*weights.*on the host", entry["reason"])


def test_bit_width_check_names_every_excess():
    g, _ = int_net(0)
    g.node("n1").attrs["vth"] = 2 ** 17
    g.node("n2").params["bias_exp"] = np.full(9, 9, np.int32)
    found = widths.problems(g)
    assert any("'n1'" in p and "vth" in p for p in found)
    assert any("'n2'" in p and "bias_exp" in p for p in found)
    assert any("'d1'" in p and "truncates" in p for p in found)    # odd, 9-bit dense weights


def test_a_host_op_between_chip_layers_runs_in_the_chip_region():
    """A host op reading chip spikes and feeding the chip again is planned inside the run
    (one host process: reads lif1, sends the encoded values fc2 reads), with its traffic."""
    from snnc.backends.loihi.host import clusters, host_table

    g = Graph("between")
    g.add_input(Value("x", (6,), kind=SPIKE))
    emit(g, "linear", ["x"], name="fc1", params={"weight": np.eye(6, dtype=np.float32)})
    emit(g, "lif", ["fc1"], name="lif1")
    emit(g, "neg", ["lif1"], name="flip")                 # a host op reading chip spikes...
    emit(g, "linear", ["flip"], name="fc2", params={"weight": np.eye(6, dtype=np.float32)})
    emit(g, "lif", ["fc2"], name="lif2")                  # ...feeding the chip again
    g.outputs = ["lif2"]
    p = plan(quantize(g))
    assert p.host[0] == "flip" and all(n in [c.name for c in p.chip] for n in p.host)
    (c,) = clusters(p)
    assert c.reads == ["lif1"] and len(c.sends) == 1 and p.graph.producer(c.sends[0]).op == "loihi_encode"
    rows = {r["node"]: r for r in host_table(p)}
    assert rows["flip"]["in_values"] == 6 and rows["flip"]["in_bits"] == 6           # 6 spikes, 1 bit each
    bits = p.graph.users(c.sends[0])[0].attrs["num_message_bits"]
    assert rows[c.sends[0]]["out_values"] == 6 and rows[c.sends[0]]["out_bits"] == 6 * bits


def test_compat_rewrites_only_what_python_311_and_numpy_2_reject():
    from snnc.backends.loihi import lava_compat as compat

    source = ("from __future__ import annotations\nfrom dataclasses import dataclass\nimport functools as ft\n"
              "import numpy as np\n@dataclass\nclass Enc:\n    n: int = 0\n"
              "@dataclass\nclass Idx:\n    x: Enc = Enc()\n    y: Enc = Enc()\n    k: int = 3\n"
              "def f(shape):\n    return ft.partial(np.reshape, newshape=shape)\n")
    tree, fields = compat.rewrite_source(source, compat.PATCHES["lava.magma.compiler.var_model"])
    assert fields == ["Idx.x", "Idx.y"]
    tree, calls = compat.rewrite_source(ast.unparse(tree), compat.PATCHES["lava.magma.core.process.ports.ports"])
    assert len(calls) == 1
    scope: dict = {}
    exec(compile(tree, "<t>", "exec", dont_inherit=True), scope)
    a, b = scope["Idx"](), scope["Idx"]()
    assert a.x is not b.x and a.k == 3
    assert scope["f"]((2, 3))(np.arange(6)).shape == (2, 3)


def test_a_large_bias_limits_the_scale_instead_of_failing():
    """Tiny weights would allow a scale whose bias (64·k·b) overflows 13 bits << 7."""
    g = Graph("bias")
    g.add_input(Value("x", (8,), kind=SPIKE))
    w = np.random.default_rng(0).normal(0, 1e-4, (4, 8)).astype(np.float32)
    emit(g, "linear", ["x"], name="fc", params={"weight": w, "bias": np.full(4, 1.2, np.float32)})
    emit(g, "lif", ["fc"], name="n", attrs={"tau": 2.0})
    g.outputs = ["n"]
    q = quantize(g)
    (layer,) = q.meta["loihi"]["layers"]
    assert layer["limited_by"] == "13-bit bias" and not widths.problems(q)
    x = spikes(np.random.default_rng(1), (20, 2, 8))
    fired = record(g, {"x": x})["n"]
    assert 0 < fired.mean() < 1                          # the bias alone drives it past θ
    np.testing.assert_array_equal(run_loihi(q, {"x": x}, align=True).values["n"], fired)
