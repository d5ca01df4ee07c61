"""A residual add feeding a neuron, on chip as multi-input synapses (``residual-synapses``).

Each network is exported from PyTorch with ``snnc.export``; the add of two synaptic
outputs (or of a synaptic output and spikes) that feeds a LIF must leave the host: the
neuron runs on chip with both synapses into it (a dendritic sum). Lava must equal the
simulator's loihi numerics spike for spike, and the loihi spikes must agree with the float
graph's (the float interpreter, which the ONNX tests pin to onnxruntime).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require
from loihi_nets import amplify

torch = require("torch")


class ResidualNeuron(torch.nn.Module):
    """conv-LIF (the encoder), then ``LIF(c1(s) + c2(s))`` (``synapses``) or ``LIF(c1(s) + s)``
    (``spikes``), or ``LIF(c1(s) + x)`` with ``x`` the float input (``float``: stays on the
    host): [T, N, 2, 5, 5] -> [T, N, 2 or 4, 5, 5]."""

    def __init__(self, term: str):
        from snnc.nn import LIF

        super().__init__()
        self.term = term
        channels = 2 if term == "float" else 4
        self.c0, self.l0 = torch.nn.Conv2d(2, 4, 3, padding=1), LIF(tau=2.0)
        self.c1 = torch.nn.Conv2d(4, channels, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 4, 1)
        self.l2 = LIF(tau=2.0, v_threshold=0.5)

    def forward(self, x):
        t, n = x.shape[:2]

        def conv(c, s):
            y = c(s.flatten(0, 1))
            return y.reshape(t, n, *y.shape[1:])

        s = self.l0(conv(self.c0, x))
        other = {"synapses": lambda: conv(self.c2, s), "spikes": lambda: s, "float": lambda: x}[self.term]()
        return self.l2(conv(self.c1, s) + other)


def _export(term: str, folder):
    import snnc

    torch.manual_seed(0)
    model = ResidualNeuron(term).eval()
    amplify(model, 2.0, 0.1)
    x = np.random.default_rng(0).random((6, 2, 2, 5, 5)).astype(np.float32)
    path = folder / f"residual-{term}.onnx"
    snnc.export(model, torch.from_numpy(x), path)
    return path, x


def _quantised(path, x):
    from snnc.onnx.importer import import_onnx
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    g = run_pipeline(import_onnx(str(path)), DEFAULT_PIPELINE)
    q = run_pipeline(g, "loihi-quantize", options={"loihi-quantize": {"calibration": {g.inputs[0]: x}}})
    return g, q


@pytest.fixture(scope="module", params=["synapses", "spikes"])
def residual(request, tmp_path_factory):
    path, x = _export(request.param, tmp_path_factory.mktemp("residual"))
    return (request.param, path, x, *_quantised(path, x))


def test_the_add_leaves_the_host_as_two_synapses_into_one_neuron(residual):
    from snnc.backends.loihi.chip import plan

    term, _, _, g, q = residual
    assert q.meta["loihi"]["rules"]["residual-synapses"] == 1
    (add,) = [n for n in g.nodes if n.op == "add"]
    assert add.name not in q                             # the float add is gone, not a host node
    neuron = q.node(g.producer(g.outputs[0]).name)
    assert neuron.op == "loihi_lif"
    dendrites = q.producer(neuron.inputs[0])
    assert dendrites.op == "add" and [q.producer(v).op for v in dendrites.inputs] == ["loihi_conv"] * 2
    p = plan(q)
    assert not p.host and dendrites in p.chip and not q.meta["loihi"]["host"]
    if term == "spikes":       # the spike term is an identity synapse: one weight per channel
        identity = q.producer(dendrites.inputs[1])
        assert identity.attrs["group"] == 4 and len(np.unique(identity.params["weight"])) == 1


def test_loihi_spikes_agree_with_the_float_graph(residual):
    """Both terms share the lag (one synapse each after l0), so the loihi neuron sees the
    float sum, quantised: nearly every spike must be the float graph's."""
    from snnc.backends.loihi.run import run_loihi
    from snnc.ir.interpret import Interpreter

    _, _, x, g, q = residual
    fl = Interpreter(g).run({g.inputs[0]: x})[g.outputs[0]]
    lo = run_loihi(q, {q.inputs[0]: x}, align=True).outputs[q.outputs[0]]
    assert 0.05 < fl.mean() < 0.95
    assert (fl == lo).mean() >= 0.97


@pytest.mark.lava
def test_verify_target_loihi_is_bit_exact(residual, lava, tmp_path, capsys):
    from snnc.cli import main

    _, path, x, _, _ = residual
    np.save(tmp_path / "x.npy", x)
    assert main(["verify", str(path), "--target", "loihi", "--input", str(tmp_path / "x.npy")]) == 0
    assert "agree bit for bit" in capsys.readouterr().out


def test_a_float_term_keeps_the_neuron_on_the_host_with_the_reason(tmp_path):
    path, x = _export("float", tmp_path)
    g, q = _quantised(path, x)
    assert "residual-synapses" not in q.meta["loihi"]["rules"]
    reasons = {h["node"]: h["reason"] for h in q.meta["loihi"]["host"]}
    neuron = g.producer(g.outputs[0]).name
    assert q.node(neuron).op == "lif"
    assert "neither a synaptic layer's output nor spikes" in reasons[neuron]
