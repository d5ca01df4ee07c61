"""A layer the quantiser cannot put on chip falls back to the host, with the reason in the
program's plan and report, instead of aborting the whole quantisation; and an average
pool a neuron reads goes on chip as its synapse (``avgpool-synapse``)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require

torch = require("torch")


class FineMiddle(torch.nn.Module):
    """Linear-LIF three times over [T, N, 6]; the middle neuron's threshold (1e-6) is far
    below one integer step at any scale 8-bit weights of magnitude ~1 allow."""

    def __init__(self):
        from snnc.nn import LIF

        super().__init__()
        self.f1, self.l1 = torch.nn.Linear(6, 8), LIF()
        self.f2, self.l2 = torch.nn.Linear(8, 8), LIF(v_threshold=1e-6)
        self.f3, self.l3 = torch.nn.Linear(8, 4), LIF(v_threshold=0.5)

    def forward(self, x):
        return self.l3(self.f3(self.l2(self.f2(self.l1(self.f1(x))))))


def test_threshold_below_one_step_keeps_its_layer_on_the_host(tmp_path):
    import snnc
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.quant_table import table_lines
    from snnc.backends.loihi.run import run_loihi
    from snnc.onnx.importer import import_onnx
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    torch.manual_seed(0)
    model = FineMiddle().eval()
    with torch.no_grad():
        model.f1.weight.mul_(3.0).add_(0.3)
    x = np.random.default_rng(0).random((6, 2, 6)).astype(np.float32)
    snnc.export(model, torch.from_numpy(x), tmp_path / "fine.onnx")
    g = run_pipeline(import_onnx(str(tmp_path / "fine.onnx")), DEFAULT_PIPELINE)
    q = run_pipeline(g, "loihi-quantize", options={"loihi-quantize": {"calibration": {g.inputs[0]: x}}})
    ops = {n.name: n.op for n in q.nodes}
    neurons = [n.name for n in g.nodes if n.op == "lif"]
    syns = [g.producer(g.node(n).inputs[0]).name for n in neurons]
    assert [ops[n] for n in neurons] == ["loihi_lif", "lif", "loihi_lif"]       # the middle on the host
    assert ops[syns[1]] == "linear" and not any(n.op == "loihi_encode" for n in q.nodes if "f2" in n.name)
    reasons = {h["node"]: h["reason"] for h in q.meta["loihi"]["host"]}
    assert "below one integer step" in reasons[neurons[1]] and "on the host" in reasons[neurons[1]]
    assert any(line.startswith(f"host: {neurons[1]}: ") and "below one integer step" in line
               for line in table_lines(q))
    p = plan(q)
    assert {syns[1], neurons[1]} <= set(p.host)          # inside the Lava run, between chip layers
    out = run_loihi(q, {q.inputs[0]: x}).outputs[q.outputs[0]]
    assert out.shape == (6, 2, 4) and set(np.unique(out)) <= {0.0, 1.0}


class PooledNeuron(torch.nn.Module):
    """conv-LIF, then an IF neuron reading the 2×2 average pool of its spikes:
    [T, N, 2, 6, 6] -> [T, N, 4, 3, 3]."""

    def __init__(self):
        from snnc.nn import IF, LIF

        super().__init__()
        self.c, self.l = torch.nn.Conv2d(2, 4, 3, padding=1), LIF(tau=2.0)
        self.pool, self.n = torch.nn.AvgPool2d(2, 2), IF(v_threshold=0.5)

    def forward(self, x):
        t, n = x.shape[:2]
        s = self.l(self.c(x.flatten(0, 1)).reshape(t, n, 4, 6, 6))
        return self.n(self.pool(s.flatten(0, 1)).reshape(t, n, 4, 3, 3))


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    import snnc
    from snnc.onnx.importer import import_onnx
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    torch.manual_seed(0)
    model = PooledNeuron().eval()
    with torch.no_grad():
        model.c.weight.mul_(3.0).add_(0.2)
    x = np.random.default_rng(0).random((8, 2, 2, 6, 6)).astype(np.float32)
    path = tmp_path_factory.mktemp("pool") / "pool.onnx"
    snnc.export(model, torch.from_numpy(x), path)
    g = run_pipeline(import_onnx(str(path)), DEFAULT_PIPELINE)
    q = run_pipeline(g, "loihi-quantize", options={"loihi-quantize": {"calibration": {g.inputs[0]: x}}})
    return g, q, x


def test_an_average_pool_a_neuron_reads_is_its_synapse_on_chip(pooled):
    """avgpool-synapse: the pool leaves the host as a depthwise conv of weight 1/4 into the
    IF neuron. A window of spikes averages to a multiple of 1/4 and the IF neuron integrates
    without leak, so on the chip's own input spikes its output is exactly numpy's pool + IF."""
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.run import run_loihi

    g, q, x = pooled
    assert q.meta["loihi"]["rules"]["avgpool-synapse"] == 1 and q.meta["loihi"]["rules"]["synapse-neuron"] == 2
    (pool,) = [n.name for n in g.nodes if n.op == "avgpool"]
    assert q.node(pool).op == "loihi_conv" and q.node(pool).attrs["group"] == 4
    assert not plan(q).host and not q.meta["loihi"]["host"]
    run = run_loihi(q, {q.inputs[0]: x}, align=True)
    (lif,) = [n.outputs[0] for n in g.nodes if n.op == "lif"]
    s = run.values[lif]                                  # the chip's spikes into the pool, [T, N, 4, 6, 6]
    pooled = s.reshape(*s.shape[:3], 3, 2, 3, 2).mean(axis=(4, 6))
    v, want = np.zeros(pooled.shape[1:]), np.zeros(pooled.shape, np.float32)
    for t in range(len(pooled)):                         # IF, threshold 0.5, hard reset to 0
        v += pooled[t]
        want[t] = v >= 0.5
        v[want[t] == 1] = 0.0
    assert 0.05 < want.mean() < 0.95
    np.testing.assert_array_equal(run.outputs[q.outputs[0]], want)


@pytest.mark.lava
def test_the_pool_synapse_is_bit_exact_on_lava(pooled, lava):
    from snnc.backends.loihi.run import run_loihi

    _, q, x = pooled
    sim = run_loihi(q, {q.inputs[0]: x})
    got = run_loihi(q, {q.inputs[0]: x}, engine="lava")
    assert sim.values.keys() == got.values.keys()
    for v, arr in sim.values.items():
        np.testing.assert_array_equal(got.values[v], arr, err_msg=v)
