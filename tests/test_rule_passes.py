"""What moving the passes onto the rule engine must keep, and the IR queries that
replaced scans: a dead chain longer than the engine's default sweep bound, one scale per
neuron per fold-scale run (stacked scales need a second run, as before), the Loihi
synapse trait set, and ``timesteps(graph)``."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.backends.sim import shape_inputs
from snnc.ir.build import emit
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.ir.graph import Graph, Value
from snnc.ir.query import timesteps
from snnc.ir.registry import NEURON, SYNAPTIC, TEMPORAL, ops_with
from snnc.passes import PassLog, dce, fold_scale


def test_dce_removes_a_dead_chain_longer_than_the_sweep_bound():
    """dce's rule removes the last node of a dead chain per sweep: 80 nodes need 80 sweeps."""
    g = Graph("chain")
    g.add_input(Value("x", (3,)))
    emit(g, "relu", ["x"], name="live")
    v = "x"
    for i in range(80):
        v = emit(g, "neg", [v], name=f"d{i}").outputs[0]
    g.outputs = ["live"]
    log = PassLog("dce")
    out = dce(g, log)
    assert [n.name for n in out.nodes] == ["live"] and log.counts == {"removed": 80}


def test_fold_scale_takes_one_scale_per_neuron_per_run():
    """conv -> ·c (per channel) -> ·4 -> lif: the first run puts 4 into the threshold
    (θ/4), the second c into the conv's weights (W[o]·c[o]); computed here in numpy."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 2, 1, 1)).astype(np.float32)
    c = np.array([1.0, 2.0, 3.0, 0.5], np.float32)
    g = Graph("stack")
    g.add_input(Value("x", (2, 3, 3)))
    emit(g, "conv", ["x"], name="conv", params={"weight": w})
    emit(g, "constant", [], name="c", params={"value": c.reshape(4, 1, 1)})
    emit(g, "constant", [], name="four", params={"value": np.float32(4.0)})
    emit(g, "mul", ["conv", "c"], name="m1")
    emit(g, "mul", ["m1", "four"], name="m2")
    emit(g, "lif", ["m2"], name="sn", attrs={"tau": 2.0, "v_threshold": 1.0})
    g.outputs = ["sn"]
    first, second = PassLog("fold-scale"), PassLog("fold-scale")
    once = fold_scale(g, first)
    assert first.counts == {"into_threshold": 1, "into_weights": 0, "left": 0}
    assert once.node("sn").attrs["v_threshold"] == 0.25 and "m1" in once and "m2" not in once
    twice = fold_scale(once, second)
    assert second.counts == {"into_weights": 1, "into_threshold": 0, "left": 0}
    assert "m1" not in twice and twice.node("sn").inputs == ["conv"]
    np.testing.assert_allclose(twice.node("conv").params["weight"], w * c.reshape(4, 1, 1, 1), rtol=1e-6)


def test_loihi_synapses_are_a_trait_set():
    """The chip's synapses (delayed one step) are the synaptic ops that see time; the
    float synapses are not among them, and neurons are no synapses."""
    assert ops_with(SYNAPTIC, TEMPORAL) == {"loihi_conv", "loihi_dense"}
    assert ops_with(SYNAPTIC) >= {"conv", "conv_transpose", "linear", "loihi_conv", "loihi_dense"}
    assert not ops_with(SYNAPTIC, NEURON)


def _encoded(*steps: int) -> Graph:
    g = Graph("enc")
    g.add_input(Value("x", (3,), axes="N"))
    for i, t in enumerate(steps):
        emit(g, "repeat_time", ["x"], name=f"rep{i}", attrs={"timesteps": t})
    g.outputs = [f"rep{i}" for i in range(len(steps))]
    return g


def test_timesteps_is_what_the_encoders_say():
    assert timesteps(_encoded()) is None
    assert timesteps(_encoded(6)) == 6 and timesteps(_encoded(6, 6)) == 6
    with pytest.raises(UnsupportedError, match=r"different numbers of steps \[2, 5\]"):
        timesteps(_encoded(5, 2))
    x = np.zeros((2, 3), np.float32)
    assert shape_inputs(_encoded(6), x)["x"].shape == (2, 3)        # per sample: the encoder repeats it
    with pytest.raises(SnncError, match="T=6 steps; --timesteps 3"):
        shape_inputs(_encoded(6), x, timesteps=3)
    with pytest.raises(SnncError, match="different numbers of steps"):
        shape_inputs(_encoded(5, 2), x)
