"""Small ANNs for scikit-learn's 8x8 digits, trained in seconds on a CPU: what the
conversion examples, tests and benchmarks convert (``snnc convert``, ``docs/convert.md``).

    x, y = digits_images()          # [1797, 1, 8, 8] in [0, 1], labels
    cnn = train_cnn()               # conv-BN-ReLU-avgpool-conv-ReLU-linear, ~93 % held out
    vit = train_vit()               # ViT: 2 px patches, width 32, one block, ~86-89 %

Deterministic for a seed; the first 1400 digits train, the rest are held out.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

TRAIN = 1400


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)


def _fit(model: nn.Module, epochs: int, batch: int, lr: float) -> nn.Module:
    x, y = digits_images()
    xt, yt = torch.from_numpy(x[:TRAIN]), torch.from_numpy(y[:TRAIN])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for i in range(0, TRAIN, batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[i:i + batch]), yt[i:i + batch]).backward()
            opt.step()
    return model.eval()


def train_cnn(epochs: int = 15, seed: int = 0) -> nn.Module:
    """A ReLU CNN with BatchNorm and an average pool: ``relu-if`` and ``ecmt`` convert it."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
    return _fit(model, epochs, 100, 3e-3)


def train_vit(epochs: int = 12, seed: int = 0) -> nn.Module:
    """A ViT (GELU, LayerNorm, softmax attention): ``ecmt`` and ``sit`` convert it."""
    from snnc.models.vit import VisionTransformer

    torch.manual_seed(seed)
    model = VisionTransformer(dim=32, depth=1, heads=2, img_size=8, patch=2, in_channels=1, num_classes=10)
    return _fit(model, epochs, 70, 3e-3)
