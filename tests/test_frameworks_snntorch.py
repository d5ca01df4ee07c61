"""snnTorch models in snnTorch's own idiom (an ``nn.Sequential`` of per-step layers and
``snn.Leaky`` / ``snn.Synaptic`` with ``init_hidden=True``, run by a loop over time
steps) export through ``snnc.export`` with ``[T, N, ...]`` inputs as the ``snnc::Leaky`` /
``snnc::Synaptic`` ops; onnxruntime on the
file and the IR interpreter give snnTorch's own spikes, layer by layer, spike for spike."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from onnx_helpers import neuron_nodes, run_ort

torch = require("torch")
snn = require("snntorch")

from snntorch import surrogate, utils  # noqa: E402
from torch import nn  # noqa: E402

import snnc  # noqa: E402
from snnc.ir import interpret  # noqa: E402
from snnc.ir.errors import UnsupportedError  # noqa: E402
from snnc.onnx.importer import import_model  # noqa: E402
from snnc.onnx.ir_to_onnx import graph_to_onnx  # noqa: E402

# every reset mechanism, with and without reset_delay; betas that are not powers of two
LEAKY = [
    dict(beta=0.9, spike_grad=surrogate.fast_sigmoid()),                            # subtract, delayed
    dict(beta=0.7, threshold=0.5, reset_mechanism="zero"),
    dict(beta=0.85, threshold=0.8, reset_delay=False),
    dict(beta=0.6, threshold=0.6, reset_mechanism="zero", reset_delay=False),
    dict(beta=0.95, threshold=0.7, reset_mechanism="none"),
    # Synaptic: a decaying current into the membrane; every reset, with and without delay
    dict(alpha=0.8, beta=0.9),
    dict(alpha=0.6, beta=0.7, threshold=0.5, reset_mechanism="zero"),
    dict(alpha=0.9, beta=0.85, threshold=0.8, reset_delay=False),
    dict(alpha=0.7, beta=0.6, threshold=0.6, reset_mechanism="zero", reset_delay=False, output=True),
]


def neuron(kw):
    return (snn.Synaptic if "alpha" in kw else snn.Leaky)(init_hidden=True, **kw)


def snntorch_net():
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2), neuron(LEAKY[0]), nn.Flatten()]
    width = 4 * 4 * 4
    for kw in LEAKY[1:]:
        layers += [nn.Linear(width, 12), neuron(kw)]
        width = 12
    net = nn.Sequential(*layers).eval()
    for m in net.modules():
        if isinstance(m, nn.Linear):
            m.weight.data *= 3.0
    return net


def run_snntorch(net, x):
    """snnTorch's loop: reset, then the per-step net at every step; each neuron's spikes."""
    neurons = [m for m in net if isinstance(m, (snn.Leaky, snn.Synaptic))]
    record = {id(m): [] for m in neurons}
    hooks = [m.register_forward_hook(lambda m, _i, out: record[id(m)].append(
        (out[0] if isinstance(out, tuple) else out).clone())) for m in neurons]
    utils.reset(net)
    with torch.no_grad():
        for t in range(x.shape[0]):
            net(x[t])
    for h in hooks:
        h.remove()
    return [torch.stack(record[id(m)]).numpy() for m in neurons]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = snntorch_net()
    x = torch.rand(10, 3, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2.0
    want = run_snntorch(net, x)
    path = tmp_path_factory.mktemp("snntorch") / "leaky.onnx"
    proto = snnc.export(net, x, path)
    return net, x.numpy(), want, proto, path


def test_leaky_translates_with_its_parameters(exported):
    proto = exported[3]
    got = [(n.op_type, {a.name: round(a.f, 6) if a.type == a.FLOAT else a.i for a in n.attribute})
           for n in neuron_nodes(proto)]
    mech = {"subtract": 0, "zero": 1, "none": 2}
    assert got == [("Synaptic" if "alpha" in kw else "Leaky",
                    {**({"alpha": kw["alpha"]} if "alpha" in kw else {}), "beta": kw["beta"],
                     "threshold": kw.get("threshold", 1.0),
                     "reset_mechanism": mech[kw.get("reset_mechanism", "subtract")],
                     "reset_delay": int(kw.get("reset_delay", True))}) for kw in LEAKY]


def test_every_leaky_spikes_as_snntorch(exported):
    net, x, want, proto, _ = exported
    outs = [n.output[0] for n in neuron_nodes(proto)]
    got = run_ort(proto, {"x": x}, outputs=outs)
    for i, (name, spikes) in enumerate(zip(outs, want)):
        assert 0.0 < spikes.mean() < 1.0, f"neuron {i} must fire, and not always"
        np.testing.assert_array_equal(got[name].reshape(spikes.shape), spikes, err_msg=f"neuron {i}")
    graph = import_model(proto).graph
    assert [n.op for n in graph.nodes if n.op in ("leaky", "synaptic")] == \
        ["synaptic" if "alpha" in kw else "leaky" for kw in LEAKY]
    final = next(iter(interpret.run(graph, {"x": x}).values())).reshape(want[-1].shape)
    np.testing.assert_array_equal(final, want[-1])
    # and back: the IR's leaky lowers to snnc::Leaky again (snnc opt's path)
    again = next(iter(run_ort(graph_to_onnx(graph), {"x": x}).values()))
    np.testing.assert_array_equal(again.reshape(want[-1].shape), want[-1])


def test_user_model_keeps_its_modules_and_mode(exported):
    net = exported[0]
    assert isinstance(net[2], snn.Leaky) and not net.training


def test_snnc_show_reads_it(exported):
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(exported[4])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" = leaky") + out.stdout.count(" = synaptic") == len(LEAKY)


class OwnLoop(nn.Module):
    """snnTorch's other idiom: the state passed by hand in the model's own time loop."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.lif = snn.Leaky(beta=0.9)

    def forward(self, x):
        mem = self.lif.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spk, mem = self.lif(self.fc(x[t]), mem)
            out.append(spk)
        return torch.stack(out)


@pytest.mark.parametrize("model,match", [
    (OwnLoop(), r"module 'lif' \(snntorch.*Leaky\): called once per time step.*init_hidden=True"),
    (nn.Sequential(nn.Linear(4, 3), snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True)),
     r"module '1' \(snntorch.*Alpha\): no snnc dialect op"),
    (nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True, inhibition=True)),
     r"module '1'.*inhibition"),
    (nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True, spike_grad=lambda u: (u > 0).float())),
     r"module '1'.*custom spike_grad"),
], ids=["own-loop", "alpha", "inhibition", "custom-spike-grad"])
def test_what_snnc_cannot_express_is_refused_by_name(model, match):
    with pytest.raises(UnsupportedError, match=match):
        snnc.export(model, torch.rand(3, 2, 4), "/nonexistent/never-written.onnx")
