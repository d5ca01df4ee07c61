"""Spikingformer (Zhou et al., 2023; seeds/002) as in the authors' public code.

Spike-driven residual learning (Spikingformer Eq. 4): every ConvBN reads the output of
a spiking neuron, so every synaptic layer but the encoder and the head is spike-driven.
The residual stream ``x = x + ConvBN(SN(x))`` stays analog and only ever enters a neuron.
Module names follow the authors' code (``patch_embed.proj1_conv``, ``block.0.attn.q_conv``).
"""

from __future__ import annotations

import torch
from torch import nn

from snnc.models.common import ModelConfig, check_config, seq_conv_bn
from snnc.nn import LIF


def _lif(v_threshold: float = 1.0) -> LIF:
    # MultiStepLIFNode(tau=2.0, detach_reset=True); attention neuron at threshold 0.5
    return LIF(tau=2.0, v_threshold=v_threshold, v_reset=0.0, detach_reset=True)


class SpikingTokenizer(nn.Module):
    """ConvBN encoder, then SN-(MP)-ConvBN stages (Spikingformer Eq. 9-10).

    Five ConvBNs: ``C -> D/8 -> D/4 -> D/2 -> D -> D``; the last ``downsamplings`` stages
    max-pool their spikes (SPED, Eq. 10), the others do not (SPE, Eq. 9).
    """

    def __init__(self, in_channels: int, dim: int, downsamplings: int):
        super().__init__()
        widths = [in_channels, dim // 8, dim // 4, dim // 2, dim, dim]
        self.proj_conv = nn.Conv2d(widths[0], widths[1], 3, 1, 1, bias=False)
        self.proj_bn = nn.BatchNorm2d(widths[1])
        self.pooled = set(range(5 - downsamplings, 5))
        for i in range(1, 5):
            setattr(self, f"proj{i}_lif", _lif())
            setattr(self, f"proj{i}_conv", nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1, bias=False))
            setattr(self, f"proj{i}_bn", nn.BatchNorm2d(widths[i + 1]))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = seq_conv_bn(self.proj_conv, self.proj_bn, x)            # the encoding layer (MAC)
        for i in range(1, 5):
            x = getattr(self, f"proj{i}_lif")(x)
            if i in self.pooled:
                t, n = x.shape[:2]
                x = self.maxpool(x.flatten(0, 1))
                x = x.reshape(t, n, *x.shape[1:])
            x = seq_conv_bn(getattr(self, f"proj{i}_conv"), getattr(self, f"proj{i}_bn"), x)
        return x


class SpikingSelfAttention(nn.Module):
    """SSA = ConvBN(SN(Q (Kᵀ V) · s)), Q/K/V = SN(ConvBN(SN(x))) (Spikingformer Eq. 11-13)."""

    def __init__(self, dim: int, num_heads: int, scale: float = 0.125):
        super().__init__()
        self.num_heads, self.scale = num_heads, scale
        self.proj_lif = _lif()
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_conv", nn.Conv1d(dim, dim, 1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{name}_lif", _lif())
        self.attn_lif = _lif(v_threshold=0.5)
        self.proj_conv, self.proj_bn = nn.Conv1d(dim, dim, 1), nn.BatchNorm1d(dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        t, n, c, length = x.shape
        return x.transpose(-1, -2).reshape(t, n, length, self.num_heads, c // self.num_heads).permute(0, 1, 3, 2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, n, c, h, w = x.shape
        x = self.proj_lif(x).flatten(3)                              # [T, N, C, L] spikes
        q = self._heads(self.q_lif(seq_conv_bn(self.q_conv, self.q_bn, x)))
        k = self._heads(self.k_lif(seq_conv_bn(self.k_conv, self.k_bn, x)))
        v = self._heads(self.v_lif(seq_conv_bn(self.v_conv, self.v_bn, x)))
        x = (q @ (k.transpose(-2, -1) @ v)) * self.scale
        x = self.attn_lif(x.transpose(3, 4).reshape(t, n, c, h * w))
        return seq_conv_bn(self.proj_conv, self.proj_bn, x).reshape(t, n, c, h, w)


class SpikingMLP(nn.Module):
    """Two SPEs (Eq. 9) with 1x1 convolutions: ``ConvBN(SN(ConvBN(SN(x))))``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.mlp1_lif = _lif()
        self.mlp1_conv, self.mlp1_bn = nn.Conv2d(dim, hidden, 1), nn.BatchNorm2d(hidden)
        self.mlp2_lif = _lif()
        self.mlp2_conv, self.mlp2_bn = nn.Conv2d(hidden, dim, 1), nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = seq_conv_bn(self.mlp1_conv, self.mlp1_bn, self.mlp1_lif(x))
        return seq_conv_bn(self.mlp2_conv, self.mlp2_bn, self.mlp2_lif(x))


class SpikingTransformer(nn.Module):
    """One block: ``x + SSA(x)``, then ``x + SMLP(x)`` (Eq. 6-7)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.attn = SpikingSelfAttention(dim, num_heads)
        self.mlp = SpikingMLP(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class Spikingformer(nn.Module):
    """``[T, N, C, H, W]`` images -> ``[N, num_classes]`` logits: AvgPooling-FC head
    (Eq. 14) on the mean over time, ``head(x.flatten(3).mean(3).mean(0))``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        check_config(config)
        self.config = config
        self.patch_embed = SpikingTokenizer(config.in_channels, config.embed_dim, config.downsamplings)
        self.block = nn.ModuleList(SpikingTransformer(config.embed_dim, config.num_heads, config.mlp_ratio)
                                   for _ in range(config.depth))
        self.head = nn.Linear(config.embed_dim, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        return self.head(x.flatten(3).mean(3).mean(0))
