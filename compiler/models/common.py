"""What the reference models share: their configuration and the folded-time ConvBN."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """A spiking transformer's size: ``<name>-<depth>-<embed_dim>`` in the papers' tables.

    ``downsamplings`` is the number of stride-2 max-pools in the tokenizer: 2 for CIFAR
    (32 px -> 8x8 tokens), 4 for ImageNet (224 px -> 14x14) and DVS (128 px -> 8x8).
    """

    depth: int
    embed_dim: int
    num_heads: int
    img_size: int = 32
    in_channels: int = 3
    num_classes: int = 10
    mlp_ratio: float = 4.0
    downsamplings: int = 2


def check_config(config: ModelConfig) -> None:
    if config.embed_dim % 8 or config.embed_dim % config.num_heads:
        raise ValueError(f"embed_dim {config.embed_dim} must divide by 8 and by num_heads {config.num_heads}")
    if not 0 <= config.downsamplings <= 4 or config.img_size % (2 ** config.downsamplings):
        raise ValueError(f"img_size {config.img_size} must divide by 2**downsamplings ({config.downsamplings} <= 4)")


def seq_conv_bn(conv: nn.Module, bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ConvBN applied to every time step: ``[T, N, ...]`` folded to ``[T*N, ...]`` and back."""
    t, n = x.shape[:2]
    y = bn(conv(x.flatten(0, 1)))
    return y.reshape(t, n, *y.shape[1:])


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, as the papers' "Param (M)" columns count them."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
