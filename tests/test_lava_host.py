"""Host ops inside one Lava run: what the chip cannot execute runs as a CPU process
between the chip processes, and Lava still equals the simulator's loihi numerics.

Each network is exported from PyTorch, quantised, and run on Lava (fixed_pt) and on the
simulator; every neuron layer's spikes and every output must agree bit for bit, and the
host nodes must really be inside the run (a chip layer reads their output).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from loihi_nets import amplify

torch = require("torch")
pytestmark = pytest.mark.lava


@pytest.fixture(scope="module", autouse=True)
def _lava(lava):
    """Every test here runs on Lava (conftest's ``lava``: never skipped in CI)."""


class Residual(torch.nn.Module):
    """conv-LIF, conv-LIF, the two spike streams joined (``add``: the residual count 0..2;
    ``mul``: their AND, which no synapse computes), a linear-LIF reading it:
    [T, N, 2, 4, 4] -> [T, N, 5]."""

    def __init__(self, join="add"):
        from snnc.nn import LIF

        super().__init__()
        self.join = join
        self.c1, self.l1 = torch.nn.Conv2d(2, 4, 3, padding=1), LIF(tau=2.0)
        self.c2, self.l2 = torch.nn.Conv2d(4, 4, 3, padding=1), LIF(tau=2.0)
        self.fc, self.l3 = torch.nn.Linear(4 * 4 * 4, 5), LIF(tau=2.0)

    def forward(self, x):
        t, n = x.shape[:2]
        a = self.l1(self.c1(x.flatten(0, 1)).reshape(t, n, 4, 4, 4))
        b = self.l2(self.c2(a.flatten(0, 1)).reshape(t, n, 4, 4, 4))
        return self.l3(self.fc((a + b if self.join == "add" else a * b).flatten(2)))


def _quantised(model, x, path):
    import snnc
    from snnc.onnx.importer import import_onnx
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    snnc.export(model, torch.from_numpy(x), path)
    g = run_pipeline(import_onnx(str(path)), DEFAULT_PIPELINE)
    return run_pipeline(g, "loihi-quantize", options={"loihi-quantize": {"calibration": {g.inputs[0]: x}}})


def _same(q, x):
    """Lava and the simulator on ``q``: every probe and output equal; returns the sim run."""
    from snnc.backends.loihi.run import run_loihi

    sim = run_loihi(q, {q.inputs[0]: x})
    lava = run_loihi(q, {q.inputs[0]: x}, engine="lava")
    assert sorted(sim.values) == sorted(lava.values)
    for v, arr in sim.values.items():
        np.testing.assert_array_equal(lava.values[v], arr, err_msg=v)
    for o, arr in sim.outputs.items():
        np.testing.assert_array_equal(lava.outputs[o], arr, err_msg=o)
    return sim


def _residual(join, folder):
    torch.manual_seed(0)
    model = Residual(join).eval()
    amplify(model, 3.0, 0.2)
    x = np.random.default_rng(0).random((5, 2, 2, 4, 4)).astype(np.float32)
    path = folder / f"res-{join}.onnx"
    return join, path, x, _quantised(model, x, path)


@pytest.fixture(scope="module", params=["add", "mul"])
def residual(request, tmp_path_factory):
    return _residual(request.param, tmp_path_factory.mktemp("host"))


def test_joined_spike_streams_run_on_chip_or_inside_the_lava_run(residual):
    """The residual add is on the chip (both streams connect to fc's input port, which sums
    them: 2-bit graded spikes, no host node); their product runs on the host, in the run."""
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.host import clusters, host_table

    join, _, x, q = residual
    p = plan(q)
    node = next(n for n in q.nodes if n.op == join)
    fc = next(n for n in q.nodes if n.op == "loihi_dense")
    if join == "add":
        assert node.name not in p.host and node in p.chip and not host_table(p)
        assert fc.attrs["num_message_bits"] == 2 and q.producer(fc.inputs[0]).op == "reshape"
    else:
        assert node.name in p.host                  # between chip layers: l1, l2 -> mul -> fc
        (c,) = clusters(p)
        assert c.reads == ["l1", "l2"] and c.sends == [fc.inputs[0]]
        assert fc.attrs["num_message_bits"] == 0    # the AND of spikes is spikes
        rows = host_table(p)        # l1 (lag 1) is delayed a step to l2's lag 2 first (lag-align)
        assert sorted(r["op"] for r in rows) == ["delay", "mul", "reshape"]      # reshape: of the product
        assert sum(r["in_values"] for r in rows) == 2 * 64 and sum(r["in_bits"] for r in rows) == 2 * 64
    sim = _same(q, x)
    l1, l2, out = sim.values["l1"], sim.values["l2"], sim.values[q.outputs[0]]
    assert 0 < l1.mean() < 1 and 0 < l2.mean() < 1 and 0 < out.mean() < 1


def test_verify_exits_0_on_the_residual_net(tmp_path):
    _, path, x, _ = _residual("add", tmp_path)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run([sys.executable, "-m", "snnc", "verify", str(path), "--target", "loihi",
                          "--input", str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "agree bit for bit" in run.stdout


@pytest.mark.parametrize("family", ["spikingformer", "spikformer"])
def test_tiny_transformers_run_whole_on_lava(family, tmp_path):
    """Spikingformer / Spikformer ("tiny"): attention's spike products, the float neurons
    reading the residual stream and the dequantised read-backs all run as host processes
    inside one Lava run; every layer equals the loihi numerics."""
    from snnc import models
    from snnc.backends.loihi.chip import plan

    torch.manual_seed(0)
    model = getattr(models, family)("tiny").eval()
    x = np.random.default_rng(1).random((3, 1, 3, 16, 16)).astype(np.float32)
    q = _quantised(model, x, tmp_path / f"{family}.onnx")
    p = plan(q)
    ops = {q.node(n).op for n in p.host}
    assert {"matmul", "lif"} <= ops                 # attention, float neurons
    if family == "spikformer":                      # its spike residual sums: two neuron orders
        assert "add" in ops
    else:   # the float residual stream feeds mlp1_lif as two synapses (residual-synapses): no host add
        assert "add" not in ops and q.node("block.0.mlp.mlp1_lif").op == "loihi_lif"
    _same(q, x)


class NormHead(torch.nn.Module):
    """Linear-LIF, then LayerNorm and softmax of the spikes on the host (floats, encoded as
    graded spikes for the chip), then linear-LIF again: [T, N, 8] -> [T, N, 6]."""

    def __init__(self):
        from snnc.nn import LIF

        super().__init__()
        self.f1, self.l1 = torch.nn.Linear(8, 12), LIF()
        self.ln = torch.nn.LayerNorm(12)
        self.f2, self.l2 = torch.nn.Linear(12, 6), LIF(v_threshold=0.1)

    def forward(self, x):
        return self.l2(self.f2(torch.softmax(self.ln(self.l1(self.f1(x))), -1)))


def test_layernorm_and_softmax_between_chip_layers(tmp_path):
    from snnc.backends.loihi.chip import plan

    torch.manual_seed(0)
    model = NormHead().eval()
    with torch.no_grad():
        model.f1.weight.mul_(4.0).add_(0.3)
        model.f2.weight.mul_(8.0)
    x = np.random.default_rng(2).random((5, 2, 8)).astype(np.float32)
    q = _quantised(model, x, tmp_path / "norm.onnx")
    ops = [q.node(n).op for n in plan(q).host]
    assert ops[:2] == ["layernorm", "softmax"] and ops[-1] == "loihi_encode"
    sim = _same(q, x)
    out = sim.values[q.outputs[0]]
    assert 0 < out.mean() < 1
