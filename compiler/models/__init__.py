"""Reference spiking transformers at the sizes the papers' tables name.

    from snnc.models import spikingformer
    model = spikingformer("8-512", dataset="imagenet")     # 29.68 M parameters
    tiny = spikingformer("tiny")                            # 16 px, one block: for tests

Inputs are ``[T, N, C, H, W]``; wrap with :class:`snnc.nn.RepeatEncoder` for static images.
"""

from __future__ import annotations

from dataclasses import replace

from snnc.models.common import ModelConfig, count_parameters
from snnc.models.spikformer import Spikformer
from snnc.models.spikingformer import Spikingformer

# per data set: image size, channels, classes, tokenizer downsamplings
DATASETS = {
    "cifar10": dict(img_size=32, in_channels=3, num_classes=10, downsamplings=2),
    "cifar100": dict(img_size=32, in_channels=3, num_classes=100, downsamplings=2),
    "imagenet": dict(img_size=224, in_channels=3, num_classes=1000, downsamplings=4),
    "cifar10-dvs": dict(img_size=128, in_channels=2, num_classes=10, downsamplings=4),
    "dvs128-gesture": dict(img_size=128, in_channels=2, num_classes=11, downsamplings=4),
}

# "<depth>-<embed_dim>" -> heads, as in the papers' tables (Spikformer Tab. 1-3,
# Spikingformer Tab. 1-3); "tiny" is snnc's own size for fast tests.
SIZES = {
    "tiny": (1, 32, 2),
    "2-256": (2, 256, 16),
    "4-256": (4, 256, 8),
    "2-384": (2, 384, 12),
    "4-384": (4, 384, 12),
    "8-384": (8, 384, 12),
    "8-512": (8, 512, 8),
    "10-512": (10, 512, 8),
    "8-768": (8, 768, 12),
}


def config(size: str = "4-384", dataset: str = "cifar10", **overrides) -> ModelConfig:
    """The :class:`ModelConfig` of a named size on a named data set."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    depth, dim, heads = SIZES[size]
    base = dict(DATASETS[dataset])
    if size == "tiny":
        base.update(img_size=16)
    return replace(ModelConfig(depth=depth, embed_dim=dim, num_heads=heads, **base), **overrides)


def spikformer(size: str = "4-384", dataset: str = "cifar10", **overrides) -> Spikformer:
    """Spikformer-<size> (ConvBN-SN residuals: integer-float, Spikingformer Eq. 3)."""
    return Spikformer(config(size, dataset, **overrides))


def spikingformer(size: str = "4-384", dataset: str = "cifar10", **overrides) -> Spikingformer:
    """Spikingformer-<size> (SN-ConvBN residuals: spike-driven, Spikingformer Eq. 4)."""
    return Spikingformer(config(size, dataset, **overrides))


__all__ = ["DATASETS", "SIZES", "ModelConfig", "Spikformer", "Spikingformer", "config",
           "count_parameters", "spikformer", "spikingformer"]
