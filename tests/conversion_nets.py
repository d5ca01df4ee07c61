"""Small networks that use every ECMT conversion op (tests of the IR, check, sim, CLI)."""

from __future__ import annotations

import functools

import torch
from torch import nn

from snnc.nn import ExpectationCompensation, MultiThreshold, SpikingMatMul


class EcmtBlock(nn.Module):
    """x [T, N, 5, 6] -> Linear -> MultiThreshold (per-channel θ over the 5 tokens) ->
    ExpComp(LayerNorm, GELU) -> MultiThreshold -> A·Bᵀ and (MT(A·Bᵀ))·B as spiking matmuls
    -> an analog classification head (ECMT keeps it analog)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.mt_a = MultiThreshold(4, theta_pos=[0.1, 0.2, 0.15, 0.1, 0.3], theta_neg=0.2)
        self.norm = ExpectationCompensation(nn.Sequential(nn.LayerNorm(8), nn.GELU()))
        self.mt_b = MultiThreshold(3, 0.3)
        self.mt_s = MultiThreshold(3, 0.5)
        self.scores = SpikingMatMul()
        self.mix = SpikingMatMul()
        self.proj = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        a = self.mt_a(self.fc(x))
        b = self.mt_b(self.norm(a))
        s = self.mt_s(self.scores(a, b.transpose(-1, -2)))
        y = self.proj(self.mix(s, b))          # a synaptic layer fed by the analog matmul output
        return self.head(self.norm(y))         # the analog head, reading a Delta output


@functools.lru_cache(maxsize=None)
def exported_ecmt_block():
    """``(model, ModelProto)`` of :class:`EcmtBlock` (seed 0), exported once per test run."""
    from snnc.onnx.export import to_onnx

    torch.manual_seed(0)
    model = EcmtBlock()
    return model, to_onnx(model, torch.randn(3, 2, 5, 6))
