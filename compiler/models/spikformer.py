"""Spikformer (Zhou et al., ICLR 2023) as in the authors' public code, ``[T, N, C, H, W]`` in.

Module and parameter names follow the authors' code (``patch_embed.proj_conv``,
``block.0.attn.q_conv``…), so their checkpoints load with ``strict=False`` (their two
LayerNorms per block, never used in forward, are left out, as the published parameter
counts leave them out).

Its residuals add spikes to spikes, ConvBN-SN order (Spikingformer Eq. 3):
``x = x + SSA(x)`` makes a ``count`` value (0, 1, 2, …) that the next block's
ConvBNs multiply with float weights — the integer-float residual snnc's checker flags.
"""

from __future__ import annotations

import torch
from torch import nn

from snnc.models.common import ModelConfig, check_config, seq_conv_bn
from snnc.nn import LIF


def _lif(v_threshold: float = 1.0) -> LIF:
    # Spikformer: MultiStepLIFNode(tau=2.0, detach_reset=True), threshold 1 (0.5 in attention)
    return LIF(tau=2.0, v_threshold=v_threshold, v_reset=0.0, detach_reset=True)


class MLP(nn.Module):
    """ConvBN-SN, ConvBN-SN over tokens: ``[T, N, C, L] -> [T, N, C, L]``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1_conv, self.fc1_bn = nn.Conv1d(dim, hidden, 1), nn.BatchNorm1d(hidden)
        self.fc1_lif = _lif()
        self.fc2_conv, self.fc2_bn = nn.Conv1d(hidden, dim, 1), nn.BatchNorm1d(dim)
        self.fc2_lif = _lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1_lif(seq_conv_bn(self.fc1_conv, self.fc1_bn, x))
        return self.fc2_lif(seq_conv_bn(self.fc2_conv, self.fc2_bn, x))


class SSA(nn.Module):
    """Spiking self-attention: Q, K, V = SN(ConvBN(x)); SN(Q Kᵀ V · s) -> ConvBN -> SN."""

    def __init__(self, dim: int, num_heads: int, scale: float = 0.125):
        super().__init__()
        self.num_heads, self.scale = num_heads, scale
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_conv", nn.Conv1d(dim, dim, 1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{name}_lif", _lif())
        self.attn_lif = _lif(v_threshold=0.5)
        self.proj_conv, self.proj_bn = nn.Conv1d(dim, dim, 1), nn.BatchNorm1d(dim)
        self.proj_lif = _lif()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        t, n, c, length = x.shape
        return x.transpose(-1, -2).reshape(t, n, length, self.num_heads, c // self.num_heads).permute(0, 1, 3, 2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, n, c, length = x.shape
        q = self._heads(self.q_lif(seq_conv_bn(self.q_conv, self.q_bn, x)))
        k = self._heads(self.k_lif(seq_conv_bn(self.k_conv, self.k_bn, x)))
        v = self._heads(self.v_lif(seq_conv_bn(self.v_conv, self.v_bn, x)))
        attn = (q @ k.transpose(-2, -1)) * self.scale
        x = (attn @ v).transpose(3, 4).reshape(t, n, c, length)
        x = self.attn_lif(x)
        return self.proj_lif(seq_conv_bn(self.proj_conv, self.proj_bn, x))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.attn = SSA(dim, num_heads)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)        # spike + spike: count(k) (Spikingformer Eq. 3)
        return x + self.mlp(x)


class SPS(nn.Module):
    """Spiking patch splitting: ConvBN-SN stages, max-pooling the last ``downsamplings``,
    then a relative-position ConvBN-SN added to its own input."""

    def __init__(self, in_channels: int, dim: int, downsamplings: int):
        super().__init__()
        widths = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        self.downsamplings = downsamplings
        for i in range(4):
            suffix = "" if i == 0 else str(i)
            setattr(self, f"proj_conv{suffix}", nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1, bias=False))
            setattr(self, f"proj_bn{suffix}", nn.BatchNorm2d(widths[i + 1]))
            setattr(self, f"proj_lif{suffix}", _lif())
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.rpe_conv, self.rpe_bn = nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.BatchNorm2d(dim)
        self.rpe_lif = _lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(4):
            suffix = "" if i == 0 else str(i)
            x = getattr(self, f"proj_lif{suffix}")(seq_conv_bn(
                getattr(self, f"proj_conv{suffix}"), getattr(self, f"proj_bn{suffix}"), x))
            if i >= 4 - self.downsamplings:
                t, n = x.shape[:2]
                x = self.maxpool(x.flatten(0, 1))
                x = x.reshape(t, n, *x.shape[1:])
        x_feat = x
        x = self.rpe_lif(seq_conv_bn(self.rpe_conv, self.rpe_bn, x))
        x = x + x_feat              # spike + spike: count(2)
        return x.flatten(-2)        # [T, N, C, H*W]


class Spikformer(nn.Module):
    """``[T, N, C, H, W]`` images -> ``[N, num_classes]`` logits (the head reads the mean
    over time and tokens, as the authors' ``head(x.mean(3).mean(0))``)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        check_config(config)
        self.config = config
        self.patch_embed = SPS(config.in_channels, config.embed_dim, config.downsamplings)
        self.block = nn.ModuleList(Block(config.embed_dim, config.num_heads, config.mlp_ratio)
                                   for _ in range(config.depth))
        self.head = nn.Linear(config.embed_dim, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        return self.head(x.mean(3).mean(0))
