"""The temporal ops, per op, against onnxruntime over random shapes, attributes and inputs
(hypothesis): every ``snnc``-dialect neuron (LIF, IF, the framework neurons), ECMT's
conversion ops (MultiThreshold, CumMean, Delta, SpikingMatMul), SIT's SIExp/SINorm, and
the time encoders/decoders the importer makes of Expand/ReduceMean/ReduceSum/Gather.

Each case is a one-node ONNX model written with ``onnx.helper``; onnxruntime runs the
node's FunctionProto (the dialect's standard-op body, a second implementation of the op
independent of the numpy reference), snnc imports the node and runs its interpreter and
simulator (:func:`property_models.compare`). Spiking ops must agree spike for spike."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from onnx import helper

from property_models import SETTINGS, compare, model, rand, snnc_node, tensor

N = 3
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3)
steps = st.integers(1, 6)


def f32(lo, hi):
    """Floats in [lo, hi] that float32 holds exactly (ONNX float attributes are float32)."""
    return st.floats(lo, hi).map(lambda v: float(np.float32(v)))


# on-grid thresholds, with on-grid inputs (below), make H == θ ties happen: fire or not?
thresholds = st.one_of(st.sampled_from([0.5, 1.0, 1.5]), f32(0.25, 2.0))
resets = st.sampled_from([0.0, 0.0, -0.5, 0.3])


def _timed(draw, t, shape, loc=0.5, scale=1.0):
    x = rand(draw, (t, N, *shape), scale=scale, loc=loc)
    # half the cases on a grid of quarters: sums are exact and land on the threshold
    return np.round(x * 4) / 4 if draw(st.booleans()) else x


def _run(op, attrs, t, shape, draw, ir_op, **kw):
    proto = model([snnc_node(op, ["x"], **attrs)], {"x": ["T", "N", *shape]}, timed=["x"])
    want, _ = compare(proto, {"x": _timed(draw, t, shape, **kw)}, exact=True, ops=[ir_op])
    return want


@SETTINGS
@given(st.sampled_from(["LIF", "IF"]), steps, shapes, st.data())
def test_lif_and_if(op, t, shape, data):
    """Hard and soft reset, v_reset != 0, with and without decay_input."""
    draw = data.draw
    soft = draw(st.sampled_from([0, 1]))
    attrs = {"v_threshold": draw(thresholds), "v_reset": 0.0 if soft else draw(resets), "soft_reset": soft}
    if op == "LIF":
        attrs.update(tau=draw(st.sampled_from([2.0, 2.0, 1.5, 3.0, 4.7])), decay_input=draw(st.sampled_from([0, 1])))
    _run(op, attrs, t, shape, draw, op.lower())


@SETTINGS
@given(st.sampled_from(["Leaky", "Synaptic"]), steps, shapes, st.data())
def test_snntorch_leaky_and_synaptic(op, t, shape, data):
    """Every reset mechanism (subtract, zero, none), with and without reset_delay."""
    draw = data.draw
    attrs = {"beta": draw(f32(0.0, 1.0)), "threshold": draw(thresholds),
             "reset_mechanism": draw(st.sampled_from([0, 1, 2])), "reset_delay": draw(st.sampled_from([0, 1]))}
    if op == "Synaptic":
        attrs["alpha"] = draw(f32(0.0, 1.0))
    _run(op, attrs, t, shape, draw, op.lower())


@SETTINGS
@given(steps, shapes, st.data())
def test_spikingjelly_lif(t, shape, data):
    """LIFNode (divide by τ) and ParametricLIFNode (multiply by sigmoid(w)) charges."""
    draw = data.draw
    divide = draw(st.sampled_from([0, 1]))
    soft = draw(st.sampled_from([0, 1]))
    factor = draw(st.sampled_from([1.5, 2.0, 3.3])) if divide else draw(f32(0.1, 0.9))
    attrs = {"factor": factor, "divide": divide, "decay_input": draw(st.sampled_from([0, 1])),
             "v_threshold": draw(thresholds), "v_reset": 0.0 if soft else draw(resets), "soft_reset": soft}
    _run("SpikingJellyLIF", attrs, t, shape, draw, "sj_lif")


@SETTINGS
@given(steps, shapes, st.data())
def test_sinabs_lif(t, shape, data):
    """IAF (α = 1) and LIF; single, multi and capped spikes; subtract or reset-to-value; a
    floor on V."""
    draw = data.draw
    multi = draw(st.sampled_from([0, 1]))
    attrs = {"alpha_mem": draw(st.sampled_from([1.0, 0.9, 0.5])), "norm_input": draw(st.sampled_from([0, 1])),
             "threshold": draw(thresholds), "multi_spike": multi,
             "max_spikes": draw(st.sampled_from([0, 2])) if multi else 0,
             "reset_to_value": draw(st.sampled_from([0, 1])), "reset_amount": draw(st.sampled_from([0.0, 0.5, 1.0])),
             "min_v_mem": draw(st.sampled_from([-1.0, -0.25])), "has_min": draw(st.sampled_from([0, 1]))}
    _run("SinabsLIF", attrs, t, shape, draw, "sinabs_lif", loc=0.8, scale=1.5)


@SETTINGS
@given(st.sampled_from(["LIFBox", "LIFCurrent"]), steps, shapes, st.data())
def test_norse_cells(op, t, shape, data):
    draw = data.draw
    attrs = {"v_leak": draw(st.sampled_from([0.0, 0.1])), "v_th": draw(thresholds),
             "v_reset": draw(st.sampled_from([0.0, -0.2]))}
    if op == "LIFBox":
        attrs.update(dt_tau_inv=draw(st.sampled_from([0.1, 0.25, 0.5])), reset_subtract=draw(st.sampled_from([0, 1])))
    else:
        attrs.update(k_mem=draw(st.sampled_from([0.1, 0.2, 0.5])), k_syn=-draw(st.sampled_from([0.1, 0.2, 0.5])))
    ir_op = {"LIFBox": "lif_box", "LIFCurrent": "lif_current"}[op]
    _run(op, attrs, t, shape, draw, ir_op, loc=1.0, scale=2.0)


@SETTINGS
@given(steps, st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_multi_threshold(t, shape, data):
    """One θ or one per channel (axis 2 of [T, N, C, ...]), any gap and level count."""
    draw = data.draw
    c = shape[0]
    per_channel = draw(st.booleans())
    theta = lambda: [draw(f32(0.1, 1.5)) for _ in range(c if per_channel else 1)]  # noqa: E731
    attrs = {"levels": draw(st.integers(1, 4)), "gap": draw(st.sampled_from([1.0, 1.7, 2.0, 3.0])),
             "theta_pos": theta(), "theta_neg": theta()}
    _run("MultiThreshold", attrs, t, shape, draw, "multi_threshold", loc=0.0, scale=3.0)


@SETTINGS
@given(st.sampled_from(["CumMean", "Delta"]), steps, shapes, st.data())
def test_cum_mean_and_delta(op, t, shape, data):
    draw = data.draw
    proto = model([snnc_node(op, ["x"])], {"x": ["T", "N", *shape]}, timed=["x"])
    compare(proto, {"x": _timed(draw, t, shape, loc=0.0, scale=2.0)}, rtol=1e-5, atol=1e-5,
            ops=[{"CumMean": "cum_mean", "Delta": "delta"}[op]])


@SETTINGS
@given(steps, st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.data())
def test_spiking_matmul(t, heads, m, k, n, data):
    """ECMT Theorem 2 on spike trains (0/1) and on analog values, with a head axis."""
    draw = data.draw
    proto = model([snnc_node("SpikingMatMul", ["a", "b"])],
                  {"a": ["T", "N", heads, m, k], "b": ["T", "N", heads, k, n]}, timed=["a", "b"])
    a, b = _timed(draw, t, (heads, m, k)), _timed(draw, t, (heads, k, n))
    if draw(st.booleans()):
        a, b = (a > 0.5).astype(np.float32), (b > 0.5).astype(np.float32)
    compare(proto, {"a": a, "b": b}, rtol=1e-5, atol=1e-5, ops=["spiking_matmul"])


@SETTINGS
@given(st.integers(1, 8), shapes, st.data())
def test_si_exp(k, shape, data):
    """SIT's SI-exp with random tables (Eq. 2-4) on a per-sample input."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    tab = lambda lo, hi: [float(v) for v in rng.uniform(lo, hi, k).astype(np.float32)]  # noqa: E731
    attrs = {"K": k, "T": tab(-1.0, 1.0), "h": tab(0.05, 1.0), "d": tab(0.0, 2.0)}
    proto = model([snnc_node("SIExp", ["x"], **attrs)], {"x": ["N", *shape]})
    compare(proto, {"x": rand(draw, (N, *shape), scale=1.0)}, rtol=1e-5, atol=1e-5, ops=["si_exp"])


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_si_norm(shape, data):
    """SI-norm over a sample axis (negative axes too), with all-negative rows that it zeroes."""
    draw = data.draw
    axis = draw(st.integers(1, len(shape)))
    if draw(st.booleans()):
        axis -= len(shape) + 1
    attrs = {"axis": axis, "n_spike": draw(st.sampled_from([1.0, 4.0, 7.5]))}
    proto = model([snnc_node("SINorm", ["x"], **attrs)], {"x": ["N", *shape]})
    x = np.abs(rand(draw, (N, *shape)))
    x[0] = -x[0]                # a non-positive sum: the body's Where(ok, ..., 0)
    compare(proto, {"x": x}, rtol=1e-5, atol=1e-6, ops=["si_norm"])


@SETTINGS
@given(st.integers(2, 5), st.lists(st.integers(1, 4), min_size=1, max_size=2), st.data())
def test_time_encoders_and_decoders(t, shape, data):
    """Expand over a new time axis -> repeat_time; LIF; then one decoder: ReduceMean or
    ReduceSum over time (mean_time, sum_time), or Gather of one step (select_time)."""
    draw = data.draw
    decoder = draw(st.sampled_from(["ReduceMean", "ReduceSum", "Gather"]))
    rank = len(shape)
    nodes = [helper.make_node("Unsqueeze", ["x", "zero"], ["x1"]),
             helper.make_node("Expand", ["x1", "reps"], ["xt"]),
             snnc_node("LIF", ["xt"], tau=2.0, v_threshold=draw(thresholds), v_reset=0.0, soft_reset=0,
                       decay_input=1)]
    nodes[-1].output[0] = "s"
    index = draw(st.integers(-t, t - 1))
    inits = [tensor("zero", np.array([0], np.int64)), tensor("reps", np.array([t, 1] + [1] * rank, np.int64)),
             tensor("idx", np.array(index, np.int64))]
    if decoder == "Gather":
        nodes.append(helper.make_node("Gather", ["s", "idx"], ["y"], axis=0))
    else:
        nodes.append(helper.make_node(decoder, ["s", "zero"], ["y"], keepdims=0))
    proto = model(nodes, {"x": ["N", *shape]}, inits=inits)
    want, _ = compare(proto, {"x": rand(draw, (N, *shape), loc=0.7)}, rtol=1e-6, atol=1e-6,
                      ops=["repeat_time", "lif", {"ReduceMean": "mean_time", "ReduceSum": "sum_time",
                                                  "Gather": "select_time"}[decoder]])
    assert want.shape == (N, *shape)
