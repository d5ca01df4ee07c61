"""snnc check on an ECMT network: graded spikes drive layers; analog conversion streams are
flagged with the MultiThreshold fix; the analog head is allowed only by the option."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnc.check import ERROR, HEAD, MAC, NOTE, SPIKE_DRIVEN, check
from snnc.nn import ExpectationCompensation, MultiThreshold, SpikingMatMul
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_onnx


class Branches(nn.Module):
    """x [T, N, 5, 6] -> Linear -> MT = a;  n = ExpComp(LayerNorm)(a);  h = MT(n).

    good paths: fc_good(h), mm_good(a, hᵀ) read graded spikes only;
    bad paths:  fc_bad(n), mm_bad(a, nᵀ) read the analog Delta output;
    heads: head(ExpComp(GELU)(fc_good + fc_bad)), head2(mm_good + mm_bad): analog inputs."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 8)
        self.mt0 = MultiThreshold(4, 0.25)
        self.norm = ExpectationCompensation(nn.LayerNorm(8))
        self.mt1 = MultiThreshold(4, 0.25)
        self.fc_good, self.fc_bad = nn.Linear(8, 8), nn.Linear(8, 8)
        self.mm_good, self.mm_bad = SpikingMatMul(), SpikingMatMul()
        self.act = ExpectationCompensation(nn.GELU())
        self.head, self.head2 = nn.Linear(8, 3), nn.Linear(5, 2)

    def forward(self, x):
        a = self.mt0(self.enc(x))
        n = self.norm(a)
        h = self.mt1(n)
        y = self.head(self.act(self.fc_good(h) + self.fc_bad(n)))
        z = self.head2(self.mm_good(a, h.transpose(-1, -2)) + self.mm_bad(a, n.transpose(-1, -2)))
        return y, z


@pytest.fixture(scope="module")
def graph():
    torch.manual_seed(0)
    return import_onnx(to_onnx(Branches(), torch.randn(3, 2, 5, 6)))


def _rows(result):
    return {r.name: r for r in result.layers}


def _diag(result, node):
    [d] = [d for d in result.diagnostics if d.node == node]
    return d


def test_layers_fed_by_graded_spikes_are_spike_driven(graph):
    rows = _rows(check(graph))
    assert rows["fc_good.matmul"].verdict == SPIKE_DRIVEN
    assert rows["fc_good.matmul"].input_kind.startswith("graded(levels=4)")
    assert rows["mm_good"].verdict == SPIKE_DRIVEN


def test_analog_conversion_streams_are_flagged_with_the_fix(graph):
    result = check(graph)
    rows = _rows(result)
    for name in ("fc_bad.matmul", "mm_bad"):
        assert (rows[name].verdict, rows[name].code) == (MAC, "SNN001")
        d = _diag(result, name)
        assert d.severity == ERROR and "put a MultiThreshold neuron before it" in d.fix
        assert "delta" in d.message
    errors = sorted(d.node for d in result.diagnostics if d.severity == ERROR)
    assert errors == ["fc_bad.matmul", "mm_bad"]
    # the compensated LayerNorm and GELU (erf) are notes, not errors
    notes = [d for d in result.diagnostics if d.code == "SNN004"]
    assert {d.op for d in notes} == {"layernorm", "erf"}
    assert all(d.severity == NOTE and "compensated" in d.message for d in notes)


def test_analog_head_needs_the_option(graph):
    allowed = _rows(check(graph, allow_analog_head=True))
    for name in ("head.matmul", "head2.matmul"):
        assert (allowed[name].verdict, allowed[name].severity) == (HEAD, NOTE)
    refused = check(graph, allow_analog_head=False)
    assert _rows(refused)["head.matmul"].verdict == MAC
    assert _diag(refused, "head.matmul").severity == ERROR
