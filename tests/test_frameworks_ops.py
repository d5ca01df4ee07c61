"""The dialect ops added for other frameworks' neurons (``snnc::SpikingJellyLIF``,
``Leaky``, ``Synaptic``, ``LIFBox``, ``LIFCurrent``, ``SinabsLIF``): onnxruntime running each op's
FunctionProto (lowered from the IR by ``graph_to_onnx``) equals the IR's numpy reference,
spike for spike, for every attribute variant, and the file imports back to the same op."""

from __future__ import annotations

import numpy as np
import pytest

from onnx_helpers import run_ort

from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.interpret import run as interpret
from snnc.onnx.importer import import_model
from snnc.onnx.ir_to_onnx import graph_to_onnx

CASES = {
    "sj_lif-div-no-decay-input": ("sj_lif", {"factor": 3.0, "divide": 1, "decay_input": 0, "v_threshold": 0.5,
                                             "v_reset": 0.0, "soft_reset": 0}),
    "sj_lif-mul-soft": ("sj_lif", {"factor": 0.3, "divide": 0, "decay_input": 1, "v_threshold": 0.4,
                                   "v_reset": 0.0, "soft_reset": 1}),
    "sj_lif-mul-reset": ("sj_lif", {"factor": 0.45, "divide": 0, "decay_input": 0, "v_threshold": 0.6,
                                    "v_reset": -0.2, "soft_reset": 0}),
    "leaky-subtract": ("leaky", {"beta": 0.9, "threshold": 0.8, "reset_mechanism": 0, "reset_delay": 1}),
    "leaky-zero-now": ("leaky", {"beta": 0.7, "threshold": 0.5, "reset_mechanism": 1, "reset_delay": 0}),
    "leaky-none": ("leaky", {"beta": 0.6, "threshold": 0.5, "reset_mechanism": 2, "reset_delay": 1}),
    "synaptic-subtract-now": ("synaptic", {"alpha": 0.8, "beta": 0.7, "threshold": 0.9, "reset_mechanism": 0,
                                           "reset_delay": 0}),
    "synaptic-zero": ("synaptic", {"alpha": 0.6, "beta": 0.9, "threshold": 0.7, "reset_mechanism": 1,
                                   "reset_delay": 1}),
    "lif_box-value": ("lif_box", {"dt_tau_inv": 0.21, "v_leak": 0.1, "v_th": 0.4, "v_reset": -0.1,
                                  "reset_subtract": 0}),
    "lif_box-subtract": ("lif_box", {"dt_tau_inv": 0.3, "v_leak": 0.0, "v_th": 0.3, "v_reset": 0.0,
                                     "reset_subtract": 1}),
    "sinabs_lif-multi-min": ("sinabs_lif", {"alpha_mem": 1.0, "norm_input": 0, "threshold": 0.5, "multi_spike": 1,
                                            "max_spikes": 0, "reset_to_value": 0, "reset_amount": 0.5,
                                            "min_v_mem": -0.5, "has_min": 1}),
    "sinabs_lif-single-leak-reset": ("sinabs_lif", {"alpha_mem": 0.8, "norm_input": 1, "threshold": 0.2,
                                                    "multi_spike": 0, "max_spikes": 0, "reset_to_value": 1,
                                                    "reset_amount": 0.0, "min_v_mem": 0.0, "has_min": 0}),
    "sinabs_lif-max": ("sinabs_lif", {"alpha_mem": 0.9, "norm_input": 0, "threshold": 0.3, "multi_spike": 1,
                                      "max_spikes": 2, "reset_to_value": 0, "reset_amount": 0.3, "min_v_mem": 0.0,
                                      "has_min": 0}),
    "lif_current": ("lif_current", {"k_mem": 0.16, "k_syn": -0.3, "v_leak": 0.05, "v_th": 0.35, "v_reset": -0.2}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_onnxruntime_equals_the_ir_reference(name):
    op, attrs = CASES[name]
    g = Graph("case")
    g.add_input(Value("x", (3, 5), axes="TN"))
    g.outputs = [emit(g, op, ["x"], name="neuron", attrs=attrs).outputs[0]]
    proto = graph_to_onnx(g)
    x = (np.random.default_rng(0).standard_normal((12, 4, 3, 5)) * 0.6 + 0.25).astype(np.float32)
    mine = interpret(g, {"x": x})[g.outputs[0]].reshape(x.shape)
    theirs = run_ort(proto, {"x": x})[g.outputs[0]]
    assert 0.02 < mine.mean() < 0.98, "the neuron must fire, and not always"
    np.testing.assert_array_equal(theirs, mine)
    back = import_model(proto).graph
    assert [(n.op, n.attrs) for n in back.nodes] == [(op, pytest.approx(attrs))]
