"""A reference ANN: the timm-style Vision Transformer (Dosovitskiy et al., ICLR 2021), the
ANN the ECMT tables convert and the baseline of energy ratios.

    from snnc.models.vit import vit
    model = vit("s16")                  # ViT-S/16 at 224 px: 22.05 M parameters, 4.6 GMACs
    vit("b16"), vit("l16"), vit("s16", depth=1)

Conv patch embedding, class token, learned position embedding, pre-norm blocks
(LayerNorm, softmax multi-head attention, GELU MLP with ratio 4), final LayerNorm and a
linear head on the class token — the layers and shapes of timm's
``vit_{small,base,large}_patch16_224``. Export it with any exporter; it has no time axis.
"""

from __future__ import annotations

import torch
from torch import nn

# name -> (embed dim, depth, heads)
VIT_SIZES = {"s16": (384, 12, 6), "b16": (768, 12, 12), "l16": (1024, 24, 16)}


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """``[N, 3, H, W]`` images -> ``[N, classes]`` logits."""

    def __init__(self, dim: int, depth: int, heads: int, img_size: int = 224, patch: int = 16,
                 in_channels: int = 3, num_classes: int = 1000):
        super().__init__()
        if img_size % patch:
            raise ValueError(f"img_size {img_size} must divide by the patch size {patch}")
        self.patch_embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (img_size // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def vit(name: str = "s16", *, depth: int | None = None, img_size: int = 224, num_classes: int = 1000
        ) -> VisionTransformer:
    """ViT-S/16, B/16 or L/16 (``depth`` overrides the number of blocks, e.g. for tests)."""
    if name not in VIT_SIZES:
        raise ValueError(f"unknown ViT {name!r}; choose one of {', '.join(VIT_SIZES)}")
    dim, blocks, heads = VIT_SIZES[name]
    return VisionTransformer(dim, blocks if depth is None else depth, heads, img_size=img_size,
                             num_classes=num_classes)
