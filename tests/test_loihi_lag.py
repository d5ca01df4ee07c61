"""Aligning the step lags of a multi-input op's inputs (``lag-align``) with ``delay`` FIFOs.

Every Loihi synapse delivers one step late, so an op whose inputs come from branches of
different depth combines different float steps. The rule delays the earlier inputs; the
tests check the ``delay`` op against a FIFO written out here, that the rule fires where it
should (and says why where it cannot), that the loihi spikes then agree with the float
graph's more often than with the rule off, and that Lava still equals the simulator.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from loihi_nets import amplify

torch = require("torch")


# -- the op ------------------------------------------------------------------------------
def test_delay_is_a_fifo_of_k_steps():
    from snnc.ir.build import emit
    from snnc.ir.graph import Graph, Value
    from snnc.ir.interpret import run
    from snnc.ir.kinds import SPIKE

    g = Graph("d")
    g.add_input(Value("x", (3,), kind=SPIKE))
    emit(g, "delay", ["x"], name="y", attrs={"steps": 2})
    g.outputs = ["y"]
    assert g.values["y"].kind == SPIKE and g.values["y"].shape == (3,) and g.values["y"].axes == "TN"
    x = (np.random.default_rng(0).random((5, 2, 3)) > 0.5).astype(np.float32)
    fifo, want = [np.zeros((2, 3), np.float32)] * 2, []
    for t in range(5):                        # a FIFO, stepped: push x[t], pop the oldest
        fifo.append(x[t])
        want.append(fifo.pop(0))
    np.testing.assert_array_equal(run(g, {"x": x})["y"], np.stack(want))


def test_delay_needs_a_time_axis_and_steps_of_at_least_0():
    from snnc.ir.build import emit
    from snnc.ir.errors import IRError
    from snnc.ir.graph import Graph, Value

    g = Graph("d")
    g.add_input(Value("x", (3,), axes="N"))
    with pytest.raises(IRError, match="no time axis"):
        emit(g, "delay", ["x"], name="y", attrs={"steps": 1})
    g.add_input(Value("s", (3,)))
    with pytest.raises(IRError, match="cannot look ahead"):
        emit(g, "delay", ["s"], name="z", attrs={"steps": -1})


# -- the rule ------------------------------------------------------------------------------
class Branches(torch.nn.Module):
    """``hostadd``: ``fa(x) + fb2(LIF(fb1(x)))`` (a 1-layer and a 2-layer branch; the add a
    host op in the Lava run: lags 0 and 2), read by ``LIF(fo(·))``;
    ``dendritic``: ``LIF(fa(x) + fb2(LIF(fb1(x))))`` (a dendritic sum on chip whose earlier
    synapse reads the host's encoded x: lags 1 and 2); ``spikesum``: ``fo(s1 + LIF(fb2(s1)))``
    with ``s1 = LIF(fb1(x))`` (a sum of chip spike streams: not alignable). [T, N, 6] -> [T, N, 5 or 8]."""

    def __init__(self, variant: str):
        from snnc.nn import LIF

        super().__init__()
        self.variant = variant
        self.fa, self.fb1, self.fb2 = torch.nn.Linear(6, 8), torch.nn.Linear(6, 8), torch.nn.Linear(8, 8)
        self.fo = torch.nn.Linear(8, 5)
        self.lb, self.lo = LIF(tau=2.0), LIF(tau=2.0, v_threshold=0.5)

    def forward(self, x):
        s = self.lb(self.fb1(x))
        if self.variant == "spikesum":
            return self.lo(self.fo(s + self.lb(self.fb2(s))))
        r = self.fa(x) + self.fb2(s)
        return self.lo(r) if self.variant == "dendritic" else self.lo(self.fo(r))


def _model(variant: str, folder):
    import snnc

    torch.manual_seed(1)
    model = Branches(variant).eval()
    amplify(model, 3.0, 0.1)
    rng = np.random.default_rng(0)
    x = rng.random((12, 3, 6)).astype(np.float32) * (rng.random((12, 1, 1)) > 0.3)   # steps differ
    path = folder / f"{variant}.onnx"
    snnc.export(model, torch.from_numpy(x), path)
    return path, x


def _quantised(path, x, **options):
    """The float graph (default passes) and its ``loihi-quantize`` pass output (``options``:
    the pass's, e.g. ``lag_align=False``)."""
    from snnc.onnx.importer import import_onnx
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    g = run_pipeline(import_onnx(str(path)), DEFAULT_PIPELINE)
    return g, run_pipeline(g, "loihi-quantize", options={"loihi-quantize": {"calibration": {g.inputs[0]: x},
                                                                             **options}})


def _agreement(g, q, x) -> float:
    """Spikes of the output neuron equal in the float graph (the IR interpreter) and the
    loihi program (cut at the output's lag)."""
    from snnc.backends.loihi.run import run_loihi
    from snnc.ir.interpret import run

    out = g.outputs[0]
    float_spikes = run(g, {g.inputs[0]: x})[out]
    loihi = run_loihi(q, {q.inputs[0]: x}, align=True)
    return float((float_spikes == loihi.outputs[out]).mean())


@pytest.mark.parametrize("variant,delayed", [("hostadd", 2), ("dendritic", 1)])
def test_lag_align_fires_and_improves_agreement(variant, delayed, tmp_path):
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.latency import latency

    path, x = _model(variant, tmp_path)
    g, q = _quantised(path, x)
    _, off = _quantised(path, x, lag_align=False)
    assert q.meta["loihi"]["rules"]["lag-align"] == 1 and "lag-align" not in off.meta["loihi"]["rules"]
    (d,) = [n for n in q.nodes if n.op == "delay"]
    assert d.attrs["steps"] == delayed and d.name in plan(q).host        # on the host, inside the run
    (entry,) = [e for e in q.meta["loihi"]["lags"] if e["reason"] is None]
    lag = latency(q)
    joined = q.node(entry["node"])
    assert len({lag[v] for v in joined.inputs}) == 1                      # aligned
    assert sorted(entry["lags"].values()) == [max(entry["lags"].values()) - delayed, max(entry["lags"].values())]
    on_agree, off_agree = _agreement(g, q, x), _agreement(g, off, x)
    print(f"{variant}: output spikes equal to the float graph's: {off_agree:.1%} (rule off) -> {on_agree:.1%} (on)")
    assert on_agree > off_agree and on_agree >= 0.9, (on_agree, off_agree)


def test_a_sum_of_chip_spike_streams_is_not_aligned_and_says_why(tmp_path):
    path, x = _model("spikesum", tmp_path)
    _, q = _quantised(path, x)
    assert "lag-align" not in q.meta["loihi"]["rules"] and not any(n.op == "delay" for n in q.nodes)
    (entry,) = q.meta["loihi"]["lags"]
    assert "synaptic delays" in entry["reason"] and sorted(entry["lags"].values()) == [1, 2]


@pytest.mark.lava
@pytest.mark.parametrize("variant", ["hostadd", "dendritic"])
def test_verify_exits_0_with_delays_in_the_lava_run(variant, tmp_path, lava):
    """`snnc verify --target loihi`: Lava (the delay a host process inside the run: of a
    value from before the chip, its steps padded by align) equals the simulator's loihi
    numerics bit for bit."""
    path, x = _model(variant, tmp_path)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([sys.executable, "-m", "snnc", "verify", str(path), "--target", "loihi",
                          "--input", str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "agree bit for bit" in run.stdout
