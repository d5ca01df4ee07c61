"""Simulator and report counts of SIT's Spiking-Softmax, by hand: each SI-exp spike is one
AC (it adds d(t), Eq. 4), SI-norm's normalisation 3 FLOPs per element per step as MACs
(Eq. 5, 10); both are conversion overhead, outside the synaptic totals, in the full count."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.backends.energy import load_model
from snnc.backends.sim import simulate
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.kinds import ANALOG
from snnc.report.build import build_report

# K = 3 by hand: thresholds 0.5, 0, −0.5; discharges 1, 0.5, 0.25; every spike worth 1
TABLES = {"K": 3, "T": [0.5, 0.0, -0.5], "h": [1.0, 0.5, 0.25], "d": [1.0, 1.0, 1.0]}


def softmax_graph():
    g = Graph("sit")
    g.add_input(Value("x", (3,), kind=ANALOG, axes="TN"))
    emit(g, "si_exp", ["x"], name="exp", attrs=TABLES)
    emit(g, "si_norm", ["exp"], name="norm", attrs={"axis": -1, "n_spike": 1.0})
    g.outputs = ["norm"]
    return g


def test_si_exp_acs_and_si_norm_macs_by_hand():
    x = np.array([[[0.7, 0.1, -0.9], [0.5, 0.0, -0.5]],          # t = 1: samples 0, 1
                  [[0.5, 0.0, -0.5], [2.0, -2.0, 0.2]]], np.float32)  # t = 2
    # v = x; fire where v >= T(t), then v -= h(t):
    #  0.7: fires (v -0.3), not (-0.3 < 0), fires (-0.3 >= -0.5)          -> 2 spikes
    #  0.1: not, fires (v -0.4), fires (-0.4 >= -0.5)                       -> 2
    # -0.9: never                                                           -> 0
    #  0.5: fires (v -0.5), not, fires (-0.5 >= -0.5)                       -> 2
    #  0.0: not, fires (v -0.5), fires                                      -> 2
    # -0.5: not, not, fires                                                 -> 1
    #  2.0: fires (v 1.0), fires (v 0.5), fires                             -> 3
    # -2.0: never                                                           -> 0
    #  0.2: not, fires (v -0.3), fires                                      -> 2
    spikes_per_step = [4 + 5, 5 + 5]                                   # summed over the 2 samples
    result = simulate(softmax_graph(), {"x": x})
    exp, norm = result.layers["exp"], result.layers["norm"]
    assert exp.role == "si_exp" and norm.role == "si_norm"
    np.testing.assert_array_equal(exp.acs_per_step, spikes_per_step)
    assert exp.acs == pytest.approx(sum(spikes_per_step) / 2)          # per sample
    assert exp.macs == 0
    # spikes per element per inner step: 19 spikes over 2 steps x 2 samples x 3 elements x K = 3
    assert exp.firing_rate == pytest.approx(19 / (2 * 2 * 3 * 3))
    # SI-norm: 3 elements x 3 FLOPs, per step per sample: 9 MACs a step, 18 per sample
    np.testing.assert_array_equal(norm.macs_per_step, [9 * 2, 9 * 2])
    assert norm.macs == 18 and norm.acs == 0
    # the output: spike counts normalised per row (n_spike = 1): [2, 2, 0] / 4 at t=1, sample 0
    np.testing.assert_allclose(result.outputs["norm"][0, 0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(result.outputs["norm"][1, 1], [0.6, 0.0, 0.4])
    # conversion overhead: outside the synaptic totals, in SimResult.sit_total
    assert result.total("acs") == 0 and result.total("macs") == 0
    assert result.sit_total("acs") == pytest.approx(9.5) and result.sit_total("macs") == 18


def test_report_full_count_adds_the_spiking_softmax():
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3, 3)).astype(np.float32)
    result = simulate(softmax_graph(), {"x": x})
    model = load_model("45nm")
    report = build_report(softmax_graph(), result, model)
    extra = report["ecmt_overhead"]
    # the spikes counted here, independently of the simulator
    v = x.copy()
    spikes = 0
    for t in range(3):
        fired = v >= np.float32(TABLES["T"][t])
        spikes += int(fired.sum())
        v = np.where(fired, v - np.float32(TABLES["h"][t]), v)
    assert extra["sit_acs"] == pytest.approx(spikes / 3)               # per sample (N = 3)
    assert extra["sit_macs"] == 4 * 9                                   # T = 4 steps x 9
    assert extra["sit_ops"] == {"si_exp": 1, "si_norm": 1} and extra["ops"] == {} and extra["flops"] == 0
    want = extra["sit_acs"] * model.e_ac_pj + extra["sit_macs"] * model.e_mac_pj
    assert extra["energy_pj"] == pytest.approx(want)
    assert extra["full_energy_pj"] == pytest.approx(report["total"]["energy_pj"] + want)
