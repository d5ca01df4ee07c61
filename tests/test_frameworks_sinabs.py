"""Sinabs models (an ``nn.Sequential`` of layers and ``IAFSqueeze``/``LIFSqueeze`` or
``IAF``/``LIF`` neurons) export through ``snnc.export`` as the ``snnc::SinabsLIF`` op, with
snnc's ``[T, N, ...]`` inputs where Sinabs reads ``[N*T, ...]`` or ``(batch, time, ...)``;
onnxruntime on the file and the IR interpreter give Sinabs' own outputs (spikes, or spike
counts), layer by layer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from onnx_helpers import neuron_nodes, run_ort

torch = require("torch")
sl = require("sinabs.layers")

from sinabs.activation import MaxSpike, MembraneReset, MembraneSubtract, MultiSpike, SingleSpike  # noqa: E402,F401
from torch import nn  # noqa: E402

import snnc  # noqa: E402
from snnc.ir import interpret  # noqa: E402
from snnc.ir.errors import UnsupportedError  # noqa: E402
from snnc.onnx.importer import import_model  # noqa: E402

T, N = 8, 3


def squeeze_net():
    """``sinabs.from_model``'s layout: every neuron an ``*Squeeze`` layer on [N*T, ...]."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), sl.IAFSqueeze(batch_size=N),                         # MultiSpike counts
        nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(64, 12), sl.IAFSqueeze(batch_size=N, spike_fn=SingleSpike, min_v_mem=-1.0),
        nn.Linear(12, 12), sl.IAFSqueeze(batch_size=N, spike_fn=MaxSpike(max_num_spikes_per_bin=2),
                                         reset_fn=MembraneReset()),
        nn.Linear(12, 10), sl.LIFSqueeze(tau_mem=4.0, batch_size=N, spike_fn=SingleSpike, spike_threshold=0.3,
                                         reset_fn=MembraneSubtract(subtract_value=0.5)),
    ).eval()
    for m in net.modules():
        if isinstance(m, nn.Linear):
            m.weight.data *= 3.0
    return net


def run_sinabs(net, x):
    """Sinabs on its layout [N*T, ...]; each neuron's output back as [T, N, ...]."""
    outs = []
    hooks = [m.register_forward_hook(lambda m, _i, out: outs.append(out.detach().clone()))
             for m in net if isinstance(m, sl.StatefulLayer)]
    with torch.no_grad():
        net(x.transpose(0, 1).reshape(N * T, *x.shape[2:]))
    for h in hooks:
        h.remove()
    return [o.reshape(N, T, *o.shape[1:]).transpose(0, 1).numpy() for o in outs]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = squeeze_net()
    x = torch.rand(T, N, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2.0
    want = run_sinabs(net, x)
    for m in net.modules():
        if isinstance(m, sl.StatefulLayer):
            m.reset_states()
    path = tmp_path_factory.mktemp("sinabs") / "iaf.onnx"
    return net, x.numpy(), want, snnc.export(net, x, path), path


def test_every_neuron_outputs_as_sinabs(exported):
    _, x, want, proto, _ = exported
    outs = [n.output[0] for n in neuron_nodes(proto)]
    assert [n.op_type for n in neuron_nodes(proto)] == ["SinabsLIF"] * 4
    got = run_ort(proto, {"x": x}, outputs=outs)
    for i, (name, spikes) in enumerate(zip(outs, want)):
        assert 0.0 < spikes.mean() and (spikes == 0).any(), f"neuron {i} must fire, and not always"
        np.testing.assert_array_equal(got[name].reshape(spikes.shape), spikes, err_msg=f"neuron {i}")
    assert want[0].max() >= 2, "the first layer's MultiSpike must emit counts above 1"
    assert want[2].max() == 2, "MaxSpike caps the count at 2"
    graph = import_model(proto).graph
    final = next(iter(interpret.run(graph, {"x": x}).values())).reshape(want[-1].shape)
    np.testing.assert_array_equal(final, want[-1])


def test_snnc_show_reads_it(exported):
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(exported[4])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" = sinabs_lif") == 4 and "count(2)" in out.stdout


def test_batch_time_layout_iaf_exports_the_same(tmp_path):
    """IAF/LIF on (batch, time, F): the same file layout, [T, N, F]."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), sl.IAF(spike_fn=SingleSpike), nn.Linear(5, 4),
                        sl.LIF(tau_mem=3.0, spike_threshold=0.3)).eval()
    net[2].bias.data += 0.5                 # a drive that fires the LIF layer
    x = torch.rand(T, N, 6, generator=torch.Generator().manual_seed(2)) * 4.0
    with torch.no_grad():
        want = net(x.transpose(0, 1)).transpose(0, 1).numpy()
    for m in net.modules():
        if isinstance(m, sl.StatefulLayer):
            m.reset_states()
    proto = snnc.export(net, x, tmp_path / "iaf.onnx")
    assert want.any() and not want.all()
    np.testing.assert_array_equal(next(iter(run_ort(proto, {"x": x.numpy()}).values())), want)


@pytest.mark.parametrize("model,match", [
    (nn.Sequential(nn.Linear(4, 3), sl.IAF(tau_syn=5.0)), r"module '1'.*tau_syn"),
    (nn.Sequential(nn.Linear(4, 3), sl.IAFRecurrent(rec_connect=nn.Linear(3, 3))), r"module '1'.*IAFRecurrent"),
    (nn.Sequential(nn.Linear(4, 3), sl.IAF(), sl.FlattenTime()), r"module '2'.*FlattenTime"),
], ids=["tau-syn", "recurrent", "flatten-time"])
def test_what_snnc_cannot_express_is_refused_by_name(model, match):
    with pytest.raises(UnsupportedError, match=match):
        snnc.export(model, torch.rand(3, 2, 4), "/nonexistent/never-written.onnx")
