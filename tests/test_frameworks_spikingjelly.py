"""SpikingJelly models, written in SpikingJelly's own idiom (``layer.*`` wrappers,
``SeqToANNContainer``, ``neuron.*Node(step_mode='m')``, surrogate functions), export
through ``snnc.export`` unmodified; onnxruntime on the file and the IR interpreter give
SpikingJelly's own spikes, spike for spike; what snnc cannot express is refused by name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import randomize_batchnorm, require
from onnx_helpers import run_ort

torch = require("torch")
sj = require("spikingjelly.activation_based")

from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402
from torch import nn  # noqa: E402

import snnc  # noqa: E402
from snnc.ir import interpret  # noqa: E402
from snnc.ir.errors import UnsupportedError  # noqa: E402
from snnc.onnx.importer import import_model  # noqa: E402


def sj_net():
    """A small conv SNN as SpikingJelly's tutorials write it: every neuron kind snnc
    translates, each reset and decay_input variant, in multi-step mode."""
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(2, 6, 3, padding=1, bias=False), layer.BatchNorm2d(6),
        neuron.LIFNode(tau=3.0, surrogate_function=surrogate.ATan(), detach_reset=True),     # hard reset
        layer.SeqToANNContainer(nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)),
        neuron.ParametricLIFNode(init_tau=2.0, v_reset=None, surrogate_function=surrogate.Sigmoid()),
        layer.MaxPool2d(2), layer.Dropout(0.3),
        layer.Conv2d(6, 8, 3, padding=1),
        neuron.LIFNode(tau=4.0, decay_input=False, v_reset=None, v_threshold=0.75),     # soft, no decay_input
        layer.Conv2d(8, 8, 1),
        neuron.LIFNode(tau=1.5, decay_input=False, v_reset=-0.25, v_threshold=0.5),     # general charge
        layer.Flatten(), layer.Linear(8 * 4 * 4, 10),
        neuron.IFNode(v_reset=None, v_threshold=0.6),
        layer.Linear(10, 10),
        neuron.IFNode(v_threshold=0.4),
        # charges snnc's LIF would round differently: SpikingJellyLIF
        layer.Linear(10, 10),
        neuron.ParametricLIFNode(init_tau=3.0, v_threshold=0.5),               # multiplies by sigmoid(w) = 1/3
        layer.Linear(10, 10),
        neuron.LIFNode(tau=3.0, decay_input=False, v_threshold=0.5),           # V - V/3 + X
    )
    randomize_batchnorm(net)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.data *= 2.0
    for m in (net[16], net[18]):        # the last layers see few spikes: a drive that fires
        m.bias.data += 0.4
    functional.set_step_mode(net, "m")
    return net.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = sj_net()
    x = torch.rand(6, 3, 2, 8, 8, generator=torch.Generator().manual_seed(1)) * 3.0
    path = tmp_path_factory.mktemp("sj") / "sj.onnx"
    with torch.no_grad():
        want, spikes = net(x).numpy(), {}
        functional.reset_net(net)
        for i, m in enumerate(net):           # every neuron layer's own spikes
            if isinstance(m, neuron.BaseNode):
                spikes[i] = m
    proto = snnc.export(net, x, path)
    return net, x.numpy(), want, proto, path


def test_user_model_is_not_modified(exported):
    net = exported[0]
    assert isinstance(net[2], neuron.LIFNode) and isinstance(net[15], neuron.IFNode)


def test_neurons_translate_to_dialect_ops_with_their_parameters(exported):
    proto = exported[3]
    ops = [(n.op_type, {a.name: round(onnx_attr(a), 6) for a in n.attribute})
           for n in proto.graph.node if n.domain == "snnc"]
    assert ops == [
        ("LIF", {"tau": 3.0, "v_threshold": 1.0, "v_reset": 0.0, "soft_reset": 0, "decay_input": 1}),
        ("LIF", {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "soft_reset": 1, "decay_input": 1}),
        ("LIF", {"tau": 4.0, "v_threshold": 0.75, "v_reset": 0.0, "soft_reset": 1, "decay_input": 0}),
        ("LIF", {"tau": 1.5, "v_threshold": 0.5, "v_reset": -0.25, "soft_reset": 0, "decay_input": 0}),
        ("IF", {"v_threshold": 0.6, "v_reset": 0.0, "soft_reset": 1}),
        ("IF", {"v_threshold": 0.4, "v_reset": 0.0, "soft_reset": 0}),
        ("SpikingJellyLIF", {"factor": round(1 / 3, 6), "divide": 0, "decay_input": 1, "v_threshold": 0.5,
                             "v_reset": 0.0, "soft_reset": 0}),
        ("SpikingJellyLIF", {"factor": 3.0, "divide": 1, "decay_input": 0, "v_threshold": 0.5,
                             "v_reset": 0.0, "soft_reset": 0}),
    ]


def onnx_attr(a):
    return a.f if a.type == a.FLOAT else a.i


def test_onnxruntime_and_ir_spike_as_spikingjelly(exported):
    net, x, want, proto, _ = exported
    assert 0.05 < want.mean() < 0.95, "the output must spike, and not everywhere"
    np.testing.assert_array_equal(next(iter(run_ort(proto, {"x": x}).values())), want)
    graph = import_model(proto).graph
    got = next(iter(interpret.run(graph, {"x": x}).values())).reshape(want.shape)
    np.testing.assert_array_equal(got, want)


def test_every_neuron_layer_spikes_as_spikingjelly(exported):
    """Each neuron's own spikes (not just the last layer's) against SpikingJelly's."""
    net, x, _, proto, _ = exported
    lif_outputs = [n.output[0] for n in proto.graph.node if n.domain == "snnc"]
    got = run_ort(proto, {"x": x}, outputs=lif_outputs)
    layers = [i for i, m in enumerate(net) if isinstance(m, neuron.BaseNode)]
    h = torch.from_numpy(x)
    with torch.no_grad():
        outs = {}
        for i, m in enumerate(net):
            h = m(h)
            outs[i] = h.numpy()
    functional.reset_net(net)
    for name, i in zip(lif_outputs, layers):
        np.testing.assert_array_equal(got[name].reshape(outs[i].shape), outs[i], err_msg=f"layer {i}")
        assert outs[i].any(), f"layer {i} never fires: the comparison would be vacuous"


def test_snnc_show_reads_it(exported):
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(exported[4])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "lif[tau=3](" in out.stdout and "if[soft_reset=1" in out.stdout


def _refused(model, x, match):
    with pytest.raises(UnsupportedError, match=match):
        snnc.export(model, x, "/nonexistent/never-written.onnx")


def test_single_step_neuron_is_refused_by_name():
    net = nn.Sequential(nn.Linear(4, 3), neuron.LIFNode())             # step_mode "s" by default
    _refused(net, torch.rand(3, 2, 4), r"module '1' \(spikingjelly.*LIFNode\).*single-step.*set_step_mode")


def test_other_neurons_are_refused_by_name():
    class MyLIF(neuron.LIFNode):
        pass

    _refused(nn.Sequential(nn.Linear(4, 3), MyLIF(step_mode="m")), torch.rand(3, 2, 4),
             r"module '1' \(.*MyLIF\): no snnc dialect op expresses this neuron")
