"""snnc check on ECMT networks: graded spikes drive layers; analog conversion streams are
flagged with the MultiThreshold fix; the analog head is allowed only by the option."""

from __future__ import annotations

import torch
from torch import nn

from snnc.check import ERROR, HEAD, MAC, NOTE, SPIKE_DRIVEN, check
from snnc.nn import ExpectationCompensation, MultiThreshold, SpikingMatMul
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_onnx


class GradedMLP(nn.Module):
    """Linear -> MT -> ExpComp(LayerNorm) [-> MT] -> Linear -> ExpComp(GELU) -> analog head."""

    def __init__(self, threshold_after_norm: bool):
        super().__init__()
        self.enc = nn.Linear(6, 8)
        self.mt0 = MultiThreshold(4, 0.25)
        self.norm = ExpectationCompensation(nn.LayerNorm(8))
        self.mt1 = MultiThreshold(4, 0.25) if threshold_after_norm else nn.Identity()
        self.fc = nn.Linear(8, 8)
        self.act = ExpectationCompensation(nn.GELU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.mt1(self.norm(self.mt0(self.enc(x))))
        return self.head(self.act(self.fc(h)))


class Attention(nn.Module):
    def __init__(self, spike_b: bool):
        super().__init__()
        self.enc = nn.Linear(6, 8)
        self.mt = MultiThreshold(3, 0.25)
        self.norm = ExpectationCompensation(nn.LayerNorm(8))
        self.mt_b = MultiThreshold(3, 0.25) if spike_b else nn.Identity()
        self.mm = SpikingMatMul()
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        a = self.mt(self.enc(x))
        b = self.mt_b(self.norm(a))
        return self.head(self.mm(a, b.transpose(-1, -2)))


def _graph(model):
    return import_onnx(to_onnx(model, torch.randn(3, 2, 5, 6)))


def _rows(report):
    return {r.name: r for r in report.layers}


def test_layer_fed_by_graded_spikes_is_spike_driven():
    report = check(_graph(GradedMLP(threshold_after_norm=True)))
    rows = _rows(report)
    assert rows["fc.matmul"].verdict == SPIKE_DRIVEN
    assert rows["fc.matmul"].input_kind.startswith("graded(levels=4)")
    assert rows["head.matmul"].verdict == HEAD
    assert not [d for d in report.diagnostics if d.severity == ERROR]
    # the compensated LayerNorm is a note, not an error
    notes = [d for d in report.diagnostics if d.code == "SNN004"]
    assert notes and all(d.severity == NOTE and "compensated" in d.message for d in notes)


def test_layer_fed_by_an_expcomp_output_is_flagged_with_the_fix():
    report = check(_graph(GradedMLP(threshold_after_norm=False)))
    rows = _rows(report)
    assert rows["fc.matmul"].verdict == MAC
    [diag] = [d for d in report.diagnostics if d.node == "fc.matmul"]
    assert diag.code == "SNN001" and diag.severity == ERROR
    assert "put a MultiThreshold neuron before it" in diag.fix
    assert "delta" in diag.message


def test_analog_head_needs_the_option():
    graph = _graph(GradedMLP(threshold_after_norm=True))
    allowed = _rows(check(graph, allow_analog_head=True))["head.matmul"]
    assert (allowed.verdict, allowed.severity) == (HEAD, NOTE)
    refused = check(graph, allow_analog_head=False)
    assert _rows(refused)["head.matmul"].verdict == MAC
    assert any(d.node == "head.matmul" and d.severity == ERROR for d in refused.diagnostics)


def test_spiking_matmul_needs_two_spike_operands():
    good = _rows(check(_graph(Attention(spike_b=True))))
    assert good["mm"].verdict == SPIKE_DRIVEN
    bad_report = check(_graph(Attention(spike_b=False)))
    bad = _rows(bad_report)["mm"]
    assert bad.verdict == MAC and bad.code == "SNN001"
    [diag] = [d for d in bad_report.diagnostics if d.node == "mm"]
    assert "put a MultiThreshold neuron before it" in diag.fix
