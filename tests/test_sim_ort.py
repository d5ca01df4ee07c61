"""The simulator against onnxruntime on the same ONNX file: every neuron's spikes are
identical, or each differing spike is a threshold tie (counted) or follows from one;
analog outputs agree within 1e-5 relative. On the reference models and on random
spiking networks (convolutions with padding / stride / groups, LIF and IF with hard and
soft reset, max and average pooling, spike + spike residuals, direct encoding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim_helpers import REL_TOL, RandomSNN, compare_with_ort, reference
from snnc.backends.sim import simulate
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_onnx


def _neuron_values(graph):
    return [v for n in graph.nodes if n.op in ("lif", "if") for v in (n.inputs[0], n.outputs[0])]


def _check(graph, proto, feeds, engine="numpy", batch_size=None):
    result = simulate(graph, feeds, record=_neuron_values(graph), engine=engine, batch_size=batch_size)
    report = compare_with_ort(graph, proto, feeds, result)
    assert not report["unexplained"], report["unexplained"]
    assert report["spikes"] > 0, "the network never fired: the comparison would be vacuous"
    print(f"{graph.name}: {report['neurons']} neuron layers, {report['spikes']} spikes, "
          f"{report['ties']} threshold ties, {report['propagated']} follow-on differences, "
          f"outputs differ by {report['output_rel_diff']:.1e} (relative)")
    if report["ties"] == 0:
        assert report["propagated"] == 0
        assert report["output_rel_diff"] <= REL_TOL
    return report


@pytest.mark.parametrize("family", ["spikformer", "spikingformer"])
def test_reference_models_match_onnxruntime(family):
    proto, graph = reference(family)
    x = np.random.default_rng(1).random((4, 3, 3, 16, 16), dtype=np.float32)
    report = _check(graph, proto, {"x": x}, batch_size=2)
    assert report["neurons"] == (12 if family == "spikformer" else 11)


def test_torch_engine_matches_onnxruntime():
    proto, graph = reference("spikingformer")
    x = np.random.default_rng(2).random((4, 2, 3, 16, 16), dtype=np.float32)
    _check(graph, proto, {"x": x}, engine="torch")


@pytest.mark.parametrize("seed", [6, 28, 29])
def test_random_networks_match_onnxruntime(seed):
    """Seeds chosen to cover residuals (6, 28), groups, padding, stride, soft reset, average
    and max pooling, per-step heads and direct encoding (29) between them."""
    torch.manual_seed(seed)
    model = RandomSNN(seed)
    x = model.example(n=3)
    proto = to_onnx(model, x)
    graph = import_onnx(proto)
    ops = {n.op for n in graph.nodes}
    assert {"conv", "linear"} <= ops and ops & {"lif", "if"}
    _check(graph, proto, {graph.inputs[0]: x.numpy()})
