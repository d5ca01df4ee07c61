"""``fold-scale``: what folds into the threshold, what into the weights, what stays and
why; every rewritten graph run on onnxruntime against the graph before the pass."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.onnx.ir_to_onnx import graph_to_onnx
from snnc.passes import PassLog, fold_scale, run_pipeline

from pass_models import run_unoptimized

RNG = np.random.default_rng(0)


def w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def graph(shape=(6,)) -> Graph:
    g = Graph("scale")
    g.add_input(Value("x", shape))
    return g


def const(g, name, value):
    return emit(g, "constant", [], name=name, params={"value": np.asarray(value, np.float32)}).outputs[0]


def neuron(g, x, name="sn", op="lif", **attrs):
    return emit(g, op, [x], name=name, attrs={"tau": 2.0, **attrs} if op == "lif" else attrs).outputs[0]


def compare(before: Graph, after: Graph, seed: int = 0) -> tuple[int, int]:
    """onnxruntime on both graphs: analog outputs equal within 1e-5 relative; returns the
    number of spikes (of every neuron) that differ, and how many were compared."""
    shape = before.values["x"].shape
    feeds = {"x": (np.random.default_rng(seed).standard_normal((8, 5, *shape)) * 2).astype(np.float32)}
    spikes = [n.outputs[0] for n in before.nodes if n.op in ("lif", "if")]
    a = run_unoptimized(graph_to_onnx(before), feeds, spikes)
    b = run_unoptimized(graph_to_onnx(after), feeds, spikes)
    for out in before.outputs:
        if out not in spikes:
            np.testing.assert_allclose(b[out], a[out], rtol=1e-5, atol=1e-6)
    assert all(a[s].any() and not a[s].all() for s in spikes), "inputs that make neurons fire, sometimes"
    return sum(int((a[s] != b[s]).sum()) for s in spikes), sum(a[s].size for s in spikes)


def run(g: Graph):
    log = PassLog("fold-scale")
    out = fold_scale(g, log)
    return out, log


# -- into the threshold ---------------------------------------------------------------------
def test_scalar_through_reshapes_into_the_threshold_exactly():
    g = graph()
    y = emit(g, "linear", ["x"], name="fc", params={"weight": w(6, 6), "bias": w(6)}).outputs[0]
    s = emit(g, "mul", [y, const(g, "c", 0.25)], name="scale").outputs[0]
    r = emit(g, "reshape", [s], name="rows", attrs={"shape": [2, 3]}).outputs[0]
    t = emit(g, "transpose", [emit(g, "identity", [r], name="id").outputs[0]], name="tr", attrs={"perm": [1, 0]})
    g.outputs = [neuron(g, t.outputs[0], v_threshold=0.5)]
    out, log = run(g)
    assert log.counts == {"into_threshold": 1, "into_weights": 0, "left": 0}
    assert [n.op for n in out.nodes] == ["linear", "reshape", "identity", "transpose", "lif"]
    assert out.node("sn").attrs["v_threshold"] == 2.0
    assert compare(g, out)[0] == 0                     # a power of two: bit-identical


@pytest.mark.parametrize("op, attrs", [("if", {"soft_reset": 1}), ("lif", {"decay_input": 0}),
                                       ("lif", {"decay_input": 0, "soft_reset": 1, "tau": 1.5}), ("if", {})])
def test_division_and_every_zero_reset_neuron(op, attrs):
    g = graph()
    d = emit(g, "div", ["x", const(g, "eight", 8.0)], name="div").outputs[0]
    g.outputs = [neuron(g, d, op=op, v_threshold=0.1, **attrs)]
    out, log = run(g)
    assert log.counts["into_threshold"] == 1 and "inexact" not in log.counts
    assert out.node("sn").attrs["v_threshold"] == pytest.approx(0.8) and len(out) == 1
    assert compare(g, out)[0] == 0


def test_scale_inside_attention_matmul():
    """Spikformer's SSA: SN((Q Kᵀ · s) V) — the scale passes through the matmul."""
    g = graph((4, 3))
    a = emit(g, "matmul", ["x", emit(g, "transpose", ["x"], name="xt", attrs={"perm": [1, 0]}).outputs[0]],
             name="qk").outputs[0]
    s = emit(g, "mul", [const(g, "s", 0.125), a], name="scale").outputs[0]
    v = emit(g, "matmul", [s, "x"], name="av").outputs[0]
    g.outputs = [neuron(g, v, v_threshold=0.5)]
    out, log = run(g)
    assert log.counts["into_threshold"] == 1 and out.node("sn").attrs["v_threshold"] == 4.0
    assert compare(g, out)[0] == 0


def test_a_scale_that_is_not_a_power_of_two_counts_as_inexact():
    g = graph()
    s = emit(g, "mul", ["x", const(g, "c", 0.3)], name="scale").outputs[0]
    g.outputs = [neuron(g, s, v_threshold=0.35)]
    out, log = run(g)
    assert log.counts == {"into_threshold": 1, "inexact": 1, "into_weights": 0, "left": 0}
    changed, total = compare(g, out)
    print(f"scale 0.3: {changed} of {total} spikes changed")
    assert changed == 0


# -- into the weights -------------------------------------------------------------------------
@pytest.mark.parametrize("layer", ["conv", "conv_transpose", "linear"])
def test_per_channel_scale_into_the_layer_before(layer):
    if layer == "linear":
        g = graph((3, 4))
        y = emit(g, "linear", ["x"], name="layer", params={"weight": w(5, 4)}).outputs[0]
        c = np.abs(w(5)) + 0.2
    else:
        g = graph((4, 5))
        weight = w(6, 2, 3) if layer == "conv" else w(4, 3, 2)
        y = emit(g, layer, ["x"], name="layer", params={"weight": weight, "bias": w(6)},
                 attrs={"group": 2}).outputs[0]
        c = (np.abs(w(6, 1)) + 0.2) * np.where(np.arange(6) % 2, -1, 1)[:, None]   # signs mixed
    s = emit(g, "mul", [y, const(g, "c", c)], name="scale").outputs[0]
    g.outputs = [neuron(g, s, v_threshold=0.3)]
    out, log = run(g)
    assert log.counts == {"into_threshold": 0, "into_weights": 1, "left": 0}
    assert [n.op for n in out.nodes] == [layer, "lif"]
    assert compare(g, out)[0] == 0


def test_negative_scalar_after_a_conv_goes_into_the_weights():
    g = graph((2, 5))
    y = emit(g, "conv", ["x"], name="conv", params={"weight": w(3, 2, 1)}).outputs[0]
    s = emit(g, "mul", [y, const(g, "c", -0.5)], name="scale").outputs[0]
    g.outputs = [neuron(g, s, v_threshold=0.2)]
    out, log = run(g)
    assert log.counts["into_weights"] == 1 and out.node("sn").attrs["v_threshold"] == pytest.approx(0.2)
    np.testing.assert_array_equal(out.node("conv").params["weight"], g.node("conv").params["weight"] * -0.5)
    assert compare(g, out)[0] == 0


# -- left in place, with the reason -----------------------------------------------------------
def _hard_reset():
    g = graph()
    s = emit(g, "mul", ["x", const(g, "c", 2.0)], name="scale").outputs[0]
    g.outputs = [neuron(g, s, v_reset=0.1)]
    return g, ["resets to v_reset=0.1, not 0", "graph input"]


def _per_channel_without_layer():
    g = graph()
    s = emit(g, "mul", ["x", const(g, "c", w(6))], name="scale").outputs[0]
    g.outputs = [neuron(g, s)]
    return g, ["per-channel scale [6] cannot become the scalar threshold of 'sn'", "graph input"]


def _shared_scale():
    g = graph()
    s = emit(g, "mul", ["x", const(g, "c", 0.5)], name="scale").outputs[0]
    g.outputs = [neuron(g, s, name="a"), neuron(g, s, name="b")]
    return g, ["'scale' on the way to 'a' is also read by 2 nodes"]


def _not_per_channel():
    g = graph((2, 5))
    y = emit(g, "conv", ["x"], name="conv", params={"weight": w(3, 2, 1)}).outputs[0]
    s = emit(g, "mul", [y, const(g, "c", np.abs(w(5)))], name="scale").outputs[0]    # varies along length
    g.outputs = [neuron(g, s)]
    return g, ["scale of shape [5] is not per output channel of 'conv'"]


@pytest.mark.parametrize("case", [_hard_reset, _per_channel_without_layer, _shared_scale, _not_per_channel])
def test_left_in_place_with_the_reason(case):
    g, reasons = case()
    out, log = run(g)
    assert log.counts["left"] == 1 and log.counts["into_threshold"] == log.counts["into_weights"] == 0
    ((node, reason),) = log.left
    assert node == "scale"
    for part in reasons:
        assert part in reason
    assert out.same_as(g)


def test_kinds_are_inferred_again_after_the_fold():
    """``count * 0.125`` is graded; without the scale the attention input is a count again."""
    g = graph((4, 3))
    sp = neuron(g, "x", name="q")
    a = emit(g, "matmul", [sp, emit(g, "transpose", [sp], name="kt", attrs={"perm": [1, 0]}).outputs[0]],
             name="qk").outputs[0]
    s = emit(g, "mul", [a, const(g, "s", 0.125)], name="scale").outputs[0]
    g.outputs = [neuron(g, s, name="attn", v_threshold=0.5)]
    assert g.values["scale"].kind.name.startswith("graded")
    out = run_pipeline(g, "fold-scale,dce", verify_each=True)
    assert out.values[out.node("attn").inputs[0]].kind.name == "count(3)"
