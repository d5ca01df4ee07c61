"""Float vs Loihi fidelity of ECMT-converted networks: the quantiser's rules that keep a
converted network's Loihi program close to its float graph.

``time-origin``: ECMT's clocked host ops (cum_mean, delta, spiking_matmul) inside the Lava
run count time from the step their input arrives (its lag), not from the run's first step.
The tests build a tiny GELU MLP, convert it with ``--method ecmt`` and check the clocked
ops against numpy's running mean of what they read, the program's output against the
float graph's (better than with the rule off), and Lava against the simulator.

``fine-thresholds``: the integer ladders within 0.5% of the float thresholds, 256 encoder
levels in the smallest one (checked against the float neuron's θ).

``reader-exponent``: a Dense reading graded spikes whose scale the 16-bit input bounds
shifts its sum right (Lava's negative ``weight_exp``), so its 8-bit weights keep their
resolution: checked on the weights the chip multiplies by against the float layer's.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require

torch = require("torch")

T = 6


@pytest.fixture(scope="module")
def mlp():
    return _mlp()


def _mlp(hidden: int = 24):
    """An MLP (GELU, LayerNorm, GELU) converted with ECMT: its LayerNorm is
    expectation-compensated on the host between chip layers (inside the Lava run)."""
    from snnc.backends.sim import shape_inputs
    from snnc.conversion.convert import convert
    from snnc.conversion.torch_ann import export_ann
    from snnc.onnx.importer import import_onnx
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    torch.manual_seed(0)
    nn = torch.nn
    h = hidden
    ann = nn.Sequential(nn.Linear(8, h), nn.GELU(), nn.Linear(h, 24), nn.LayerNorm(24), nn.Linear(24, 24),
                        nn.GELU(), nn.Linear(24, 4)).eval()
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    snn, _ = convert(export_ann(ann, torch.from_numpy(x[:1])), x, method="ecmt")
    graph = run_pipeline(import_onnx(snn), DEFAULT_PIPELINE)
    return graph, shape_inputs(graph, x[:6], T)


def _quantize(graph, feeds, **options):
    from snnc.backends.loihi.quantize import quantize

    return quantize(graph, calibration=feeds, **options)


def _mean_errors(graph, q, feeds) -> dict[str, float]:
    """Per value, the relative error of its running mean at the last step, Loihi (cut at
    its lag) vs float (:func:`snnc.verification.fidelity`)."""
    from snnc.verification import fidelity

    return {row["value"]: row["mean_error"] for row in fidelity(graph, q, feeds)["values"]}


def test_a_traced_run_keeps_every_value_and_the_same_probes(mlp):
    from snnc.backends.loihi.run import run_loihi
    from snnc.ir.errors import SnncError

    graph, feeds = mlp
    q = _quantize(graph, feeds)
    plain, traced = run_loihi(q, feeds, align=True), run_loihi(q, feeds, align=True, trace=True)
    for v, a in plain.values.items():
        np.testing.assert_array_equal(traced.values[v], a)
    host = [n.outputs[0] for n in q.nodes if n.op in ("cum_mean", "layernorm", "delta")]
    assert all(traced.values[v].shape[0] == T for v in host)
    with pytest.raises(SnncError, match="trace"):
        run_loihi(q, feeds, engine="lava", trace=True)


def test_clocked_host_ops_in_the_run_count_time_from_their_input_lag(mlp):
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.latency import latency
    from snnc.ir.interpret import record

    graph, feeds = mlp
    q = _quantize(graph, feeds)
    lag, in_run = latency(q), set(plan(q).host)
    late = [n for n in q.nodes if n.op in ("cum_mean", "delta", "spiking_matmul") and lag[n.inputs[0]] > 0]
    clocked = [n for n in late if n.name in in_run]
    assert clocked and q.meta["loihi"]["rules"]["time-origin"] == len(clocked)
    # after the chip: run_loihi(align=True) cuts their inputs at their lags instead
    assert all(n.attrs["start"] == 0 for n in late if n.name not in in_run) and len(late) > len(clocked)
    values = record(q, feeds)
    for node in clocked:
        start = lag[node.inputs[0]]
        assert node.attrs["start"] == start
        if node.op != "cum_mean":
            continue
        x, got = values[node.inputs[0]].astype(np.float64), values[node.outputs[0]]
        steps = np.arange(1, T - start + 1).reshape(-1, *[1] * (x.ndim - 1))
        np.testing.assert_array_equal(got[:start], 0)                # the clock has not started
        np.testing.assert_allclose(got[start:], np.cumsum(x[start:], axis=0) / steps, rtol=1e-5, atol=1e-6)


def test_time_origin_brings_the_layernorm_close_to_the_float_graph(mlp):
    """The LayerNorm in the run reads values 2 steps late: counting those steps too, the
    running mean of its compensated output is (T + L)/T times LayerNorm's (Theorem 1's sum
    over the steps, sum of Delta = (T + L)·LN(S/(T + L)), LN scale-free)."""
    graph, feeds = mlp
    ln = next(n for n in graph.nodes if n.op == "layernorm" and n.outputs[0].startswith("3"))
    on = _mean_errors(graph, _quantize(graph, feeds), feeds)
    off = _mean_errors(graph, _quantize(graph, feeds, time_origin=False), feeds)
    compensated = graph.users(ln.outputs[0])[0].outputs[0]           # delta(layernorm(cum_mean))
    assert on[compensated] < 0.1 < off[compensated], (on[compensated], off[compensated])
    assert on[ln.outputs[0]] < off[ln.outputs[0]] / 2


def test_a_late_clock_is_not_written_to_onnx():
    from snnc.ir.build import emit
    from snnc.ir.errors import UnsupportedError
    from snnc.ir.graph import Graph, Value
    from snnc.onnx.dialect import SCHEMAS
    from snnc.onnx.ir_to_onnx import graph_to_onnx

    assert "start" not in SCHEMAS["CumMean"].attributes        # the ONNX op is the float one
    g = Graph("c")
    g.add_input(Value("x", (3,)))
    emit(g, "cum_mean", ["x"], name="m", attrs={"start": 2})
    g.outputs = ["m"]
    with pytest.raises(UnsupportedError, match="start=2"):
        graph_to_onnx(g)


@pytest.mark.lava
def test_lava_equals_the_simulator_with_clocked_host_ops(mlp, lava):
    from snnc.backends.loihi.run import run_loihi

    graph, feeds = mlp
    q = _quantize(graph, {k: v[:, :2] for k, v in feeds.items()})
    small = {k: v[:, :2] for k, v in feeds.items()}
    sim, got = run_loihi(q, small), run_loihi(q, small, engine="lava")
    assert sim.values.keys() == got.values.keys()
    for v in sim.values:
        np.testing.assert_array_equal(got.values[v], sim.values[v])
    for o in sim.outputs:
        np.testing.assert_array_equal(got.outputs[o], sim.outputs[o])


# -- reader-exponent ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide():
    """A 128-wide GELU layer read by a Linear: ECMT's fixed GELU thresholds (0.5 / 0.08)
    make its payload 9+ bits, and a fan-in of 128 such payloads bounds the reader's scale
    by the 16-bit input."""
    return _mlp(hidden=128)


def _effective_weights(q, graph) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Per Dense reading a multi-threshold payload, read back on the host: (its float
    weights, the integer weights times 2^weight_exp times the dequantiser's scale over the
    payload's (float units per payload unit), weight_exp): what the chip multiplies by."""
    from snnc.backends.loihi.quant_mt import payload_of

    out = {}
    for node in q.nodes:
        mt = payload_of(q, node.inputs[0]) if node.op == "loihi_dense" else None
        readers = [r for r in q.users(node.outputs[0]) if r.op == "loihi_dequant"]
        if mt is not None and readers and node.name in graph:
            w = graph.node(node.name).params["weight"].astype(np.float64)
            scale = readers[0].attrs["scale"] * 2.0 ** node.attrs["weight_exp"] / mt.attrs["scale"]
            out[node.name] = (w, node.params["weight"] * scale, node.attrs["weight_exp"])
    return out


def test_reader_exponent_gives_a_wide_payload_reader_fine_weights(wide):
    from snnc.backends.loihi.widths import problems

    graph, feeds = wide
    q_on, q_off = _quantize(graph, feeds), _quantize(graph, feeds, reader_exp=False)
    on, off = _effective_weights(q_on, graph), _effective_weights(q_off, graph)
    shifted = [name for name, (_, _, exp) in on.items() if exp < 0]
    assert shifted and all(off[name][2] == 0 for name in shifted) and not problems(q_on)
    for name in shifted:
        err_on = np.linalg.norm(on[name][1] - on[name][0]) / np.linalg.norm(on[name][0])
        err_off = np.linalg.norm(off[name][1] - off[name][0]) / np.linalg.norm(off[name][0])
        assert err_on < 0.02 < err_off and err_on < err_off / 4, (name, err_on, err_off)
        # its output (read back, dequantised) follows the float layer's more closely
        assert _mean_errors(graph, q_on, feeds)[name] < _mean_errors(graph, q_off, feeds)[name]


@pytest.mark.lava
def test_lava_equals_the_simulator_with_a_right_shifting_reader(wide, lava):
    from snnc.backends.loihi.run import run_loihi

    graph, feeds = wide
    small = {k: v[:, :2] for k, v in feeds.items()}
    q = _quantize(graph, small)
    assert any(n.op == "loihi_dense" and n.attrs["weight_exp"] < 0 for n in q.nodes)
    sim, got = run_loihi(q, small), run_loihi(q, small, engine="lava")
    for v in sim.values:
        np.testing.assert_array_equal(got.values[v], sim.values[v])
    for o in sim.outputs:
        np.testing.assert_array_equal(got.outputs[o], sim.outputs[o])


# -- fine-thresholds -----------------------------------------------------------------------
def _ladder_errors(graph, q) -> dict[str, float]:
    """Per multi-threshold neuron, the largest relative distance of its integer thresholds
    in float units (θ_int·scale/unit) from the float neuron's θ, both signs."""
    out = {}
    for node in q.nodes:
        if node.op == "loihi_mt":
            per_unit = node.attrs["scale"] / node.attrs["unit"]
            errors = []
            for side in ("theta_pos", "theta_neg"):
                theta = np.asarray(graph.node(node.name).attrs[side], np.float64).ravel()
                errors.append(np.abs(np.ravel(node.params[side]) * per_unit - theta) / theta)
            out[node.name] = float(np.concatenate(errors).max())
    return out


def test_fine_thresholds_put_the_integer_ladder_within_half_a_percent(mlp):
    graph, feeds = mlp
    q_fine, q_coarse = _quantize(graph, feeds), _quantize(graph, feeds, fine_thresholds=False)
    fine, coarse = _ladder_errors(graph, q_fine), _ladder_errors(graph, q_coarse)
    assert fine and max(fine.values()) <= 0.005 + 1e-9 < max(coarse.values())
    # the first neuron reads an exact float value: only its encoding differs from the float one
    first = next(n.name for n in q_fine.nodes if n.op == "loihi_mt")
    err_fine, err_coarse = _mean_errors(graph, q_fine, feeds)[first], _mean_errors(graph, q_coarse, feeds)[first]
    assert err_fine < err_coarse, (err_fine, err_coarse)
