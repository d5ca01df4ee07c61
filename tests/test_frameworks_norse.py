"""Norse models in Norse's per-step idiom (a ``SequentialState`` of layers and
``LIFBoxCell`` / ``LIFCell`` neurons, run by a loop that threads the state) export through
``snnc.export`` with ``[T, N, ...]`` inputs as the ``snnc::LIFBox`` / ``LIFCurrent`` ops; onnxruntime on
the file and the IR interpreter give Norse's own spikes, layer by layer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from onnx_helpers import neuron_nodes, run_ort

torch = require("torch")
norse = require("norse.torch")

from norse.torch.functional.reset import reset_subtract  # noqa: E402
from torch import nn  # noqa: E402

import snnc  # noqa: E402
from snnc.ir import interpret  # noqa: E402
from snnc.ir.errors import UnsupportedError  # noqa: E402
from snnc.onnx.importer import import_model  # noqa: E402

T = torch.tensor
CELLS = [   # (cell, parameters, dt): Norse's defaults, a leak/reset pair at another dt, subtract reset
    (norse.LIFBoxCell, norse.LIFBoxParameters(), 0.001),
    (norse.LIFBoxCell, norse.LIFBoxParameters(tau_mem_inv=T(70.0), v_leak=T(0.1), v_th=T(0.3), v_reset=T(-0.1)),
     0.003),
    (norse.LIFBoxCell, norse.LIFBoxParameters(v_th=T(0.2), reset_method=reset_subtract), 0.002),
    # the current-based LIF: defaults, then other time constants, leak and reset
    (norse.LIFCell, norse.LIFParameters(), 0.001),
    (norse.LIFCell, norse.LIFParameters(tau_syn_inv=T(150.0), tau_mem_inv=T(80.0), v_leak=T(0.05), v_th=T(0.4),
                                        v_reset=T(-0.2)), 0.002),
]


def norse_net():
    torch.manual_seed(0)
    layers, width = [], 16
    for cell, p, dt in CELLS:
        layers += [nn.Linear(width, 10), cell(p, dt=dt)]
        width = 10
    net = norse.SequentialState(*layers).eval()
    for m in net.modules():
        if isinstance(m, nn.Linear):
            m.weight.data *= 6.0
    return net


def run_norse(net, x):
    """Norse's loop, threading the state; each cell's spikes over time."""
    cells = [m for m in net if isinstance(m, (norse.LIFBoxCell, norse.LIFCell))]
    record = {id(m): [] for m in cells}
    hooks = [m.register_forward_hook(lambda m, _i, out: record[id(m)].append(out[0].clone())) for m in cells]
    state = None
    with torch.no_grad():
        for t in range(x.shape[0]):
            _, state = net(x[t], state)
    for h in hooks:
        h.remove()
    return [torch.stack(record[id(m)]).numpy() for m in cells]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    net = norse_net()
    x = torch.rand(20, 3, 16, generator=torch.Generator().manual_seed(1))
    want = run_norse(net, x)
    path = tmp_path_factory.mktemp("norse") / "lifbox.onnx"
    return net, x.numpy(), want, snnc.export(net, x, path), path


def test_cells_translate_with_their_parameters(exported):
    got = [(n.op_type, {a.name: a.f if a.type == a.FLOAT else a.i for a in n.attribute})
           for n in neuron_nodes(exported[3])]
    f = lambda v: float(np.float32(v))  # noqa: E731
    k = lambda dt, inv: float((dt * inv.float()).item())   # noqa: E731  (a float times a float32 tensor)
    want = []
    for cell, p, dt in CELLS:
        common = {"v_leak": f(p.v_leak), "v_th": f(p.v_th), "v_reset": f(p.v_reset)}
        if cell is norse.LIFCell:
            want.append(("LIFCurrent", {"k_mem": k(dt, p.tau_mem_inv), "k_syn": k(-dt, p.tau_syn_inv), **common}))
        else:
            want.append(("LIFBox", {"dt_tau_inv": k(dt, p.tau_mem_inv), **common,
                                    "reset_subtract": int(p.reset_method is reset_subtract)}))
    assert got == want


def test_every_cell_spikes_as_norse(exported):
    net, x, want, proto, _ = exported
    outs = [n.output[0] for n in neuron_nodes(proto)]
    got = run_ort(proto, {"x": x}, outputs=outs)
    for i, (name, spikes) in enumerate(zip(outs, want)):
        assert 0.0 < spikes.mean() < 1.0, f"cell {i} must fire, and not always"
        np.testing.assert_array_equal(got[name].reshape(spikes.shape), spikes, err_msg=f"cell {i}")
    graph = import_model(proto).graph
    final = next(iter(interpret.run(graph, {"x": x}).values())).reshape(want[-1].shape)
    np.testing.assert_array_equal(final, want[-1])


def test_snnc_show_reads_it(exported):
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(exported[4])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("lif_box[") + out.stdout.count("lif_box(") == 3
    assert out.stdout.count("lif_current") == 2


@pytest.mark.parametrize("model,match", [
    (norse.SequentialState(nn.Linear(4, 3), norse.LIFAdExCell()),
     r"module '1' \(norse.*LIFAdExCell\): no snnc dialect op"),
    (norse.SequentialState(nn.Linear(4, 3), norse.LIFBoxCell(norse.LIFBoxParameters(v_th=torch.ones(3)))),
     r"module '1'.*v_th holds one value per neuron"),
], ids=["adex-cell", "per-neuron-threshold"])
def test_what_snnc_cannot_express_is_refused_by_name(model, match):
    with pytest.raises(UnsupportedError, match=match):
        snnc.export(model, torch.rand(3, 2, 4), "/nonexistent/never-written.onnx")
