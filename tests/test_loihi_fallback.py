"""A layer the quantiser cannot put on chip falls back to the host, with the reason in the
program's plan and report, instead of aborting the whole quantisation."""

from __future__ import annotations

import numpy as np

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
    from snnc.backends.loihi.quant_report import report_lines
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
               for line in report_lines(q))
    p = plan(q)
    assert {syns[1], neurons[1]} <= set(p.host)          # inside the Lava run, between chip layers
    out = run_loihi(q, {q.inputs[0]: x}).outputs[q.outputs[0]]
    assert out.shape == (6, 2, 4) and set(np.unique(out)) <= {0.0, 1.0}
