"""NIR files written by the frameworks' own exporters (issue 16): each net is written as
its framework's docs write it, exported by the framework (SpikingJelly
``nir_exchange.export_to_nir``, snnTorch ``export_nir.export_to_nir``, Norse
``norse.torch.to_nir``, Sinabs ``sinabs.to_nir``), saved with ``nir.write``, then run by
``snnc simulate`` with the framework's dt and compared with the framework's own PyTorch
forward over T steps. NIR stores continuous-time τ/R; where the framework's step is not
the forward-Euler step of what its exporter wrote, the test says so and checks what
does hold."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import require

nir = require("nir")
torch = require("torch")
SNNC = [sys.executable, "-m", "snnc"]
T, N = 8, 4


def _snnc(path, x, dt, tmp_path):
    """``snnc show`` and ``snnc simulate`` of the .nir file on the [T, N, ...] input ``x``."""
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run(SNNC + ["show", str(path), "--dt", str(dt)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.npz"
    r = subprocess.run(SNNC + ["simulate", str(path), "--dt", str(dt), "--input", str(tmp_path / "x.npy"),
                               "-o", str(out), "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    arrays = np.load(out)
    assert len(arrays.files) == 1
    return r, arrays[arrays.files[0]]


def _read(path, dt):
    from snnc.interop.nir import read_graph

    return read_graph(path, dt)


def _run(graph, x):
    from snnc.ir.interpret import Interpreter

    return Interpreter(graph).run({graph.inputs[0]: x})[graph.outputs[0]]


def _inputs(*shape, scale=2.0, seed=0):
    return (np.random.default_rng(seed).random((T, N, *shape)) * scale).astype(np.float32)


# --- SpikingJelly: dt is the exporter's argument; LIF tau = τ·dt, R = 1 (decay_input) or τ,
# v_leak = v_reset; IF R = 1/dt. Its charge H = V + (X − (V − V_r))/τ is snnc's lif: exact.

def _sj_net(conv: bool, decay_input: bool = True):
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    if conv:
        net = torch.nn.Sequential(layer.Conv2d(1, 4, 3), neuron.LIFNode(tau=2.0, decay_input=decay_input),
                                  layer.Flatten(), layer.Linear(4 * 6 * 6, 3), neuron.IFNode(v_threshold=0.2))
    else:
        net = torch.nn.Sequential(layer.Linear(8, 6), neuron.LIFNode(tau=2.0, decay_input=decay_input),
                                  layer.Linear(6, 3), neuron.IFNode(v_threshold=0.5))
    functional.set_step_mode(net, "m")
    return net, functional


@pytest.mark.parametrize("conv, decay_input", [(False, True), (True, True), (False, False)])
def test_spikingjelly_export_matches(tmp_path, conv, decay_input):
    require("spikingjelly")
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    net, functional = _sj_net(conv, decay_input)
    x = _inputs(1, 8, 8) if conv else _inputs(8)
    dt = 1e-4                                     # SpikingJelly's default; tau in the file = 2·dt
    export_to_nir(net, torch.from_numpy(x), save_path=str(tmp_path / "sj.nir"), dt=dt)
    with torch.no_grad():
        functional.reset_net(net)
        want = net(torch.from_numpy(x)).numpy()
    r, got = _snnc(tmp_path / "sj.nir", x, dt, tmp_path)
    assert want.any() and not want.all()
    if decay_input:
        assert np.array_equal(got, want)
    else:     # R = τ: lif on τ·X, V + (τ·X − V)/τ, where SpikingJelly computes V − V/τ + X
        assert (got != want).mean() < 0.02
