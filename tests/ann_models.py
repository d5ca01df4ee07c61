"""Networks the tests build and export themselves: ANNs from "another tool" (the
TorchScript exporter, ``dynamo=False``), and a SEW-ResNet-style spiking block.

Nothing is downloaded; every model is small enough to export in a second or two.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from snnc.models.vit import VisionTransformer
from snnc.nn import LIF


class SmallCNN(nn.Module):
    """torchvision-style: conv-BN-ReLU stages, a residual basic block, pooling, a head."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.stem(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(y)) + x)
        x = self.pool(self.down(x))
        return self.fc(torch.flatten(x, 1))


def TinyViT(depth: int = 2) -> VisionTransformer:
    """timm-style ViT (snnc.models.vit's): conv patch embedding, class token, position
    embedding, pre-norm blocks (LayerNorm, softmax attention, GELU MLP), a head on the
    class token; 16 px images in 4 px patches, width 32, 2 heads."""
    return VisionTransformer(dim=32, depth=depth, heads=2, img_size=16, patch=4, num_classes=10)


class SEWBlock(nn.Module):
    """SEW-ResNet-style: ``ADD(SN(ConvBN(SN(ConvBN(x)))), x_spikes)`` into the next conv —
    the spike + spike residual that makes a count(2) input (Spikingformer Eq. 3)."""

    def __init__(self, channels: int = 4, v_reset: float | None = 0.0, neuron=None):
        super().__init__()
        make = neuron or (lambda: LIF(tau=2.0, v_reset=v_reset))
        self.stem = nn.Conv2d(2, channels, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(channels)
        self.sn0 = make()
        self.conv1, self.bn1, self.sn1 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), make()
        self.conv2, self.bn2, self.sn2 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), make()
        self.next_conv = nn.Conv2d(channels, channels, 3, padding=1)

    @staticmethod
    def _seq(conv, bn, x):
        t, n = x.shape[:2]
        y = bn(conv(x.flatten(0, 1)))
        return y.reshape(t, n, *y.shape[1:])

    def forward(self, x):
        s = self.sn0(self._seq(self.stem, self.stem_bn, x))
        out = self.sn2(self._seq(self.conv2, self.bn2, self.sn1(self._seq(self.conv1, self.bn1, s))))
        residual = out + s                                   # spike + spike: count(2)
        t, n = residual.shape[:2]
        return self.next_conv(residual.flatten(0, 1)).reshape(t, n, *residual.shape[2:])


def export_torchscript(model: nn.Module, x: torch.Tensor, path, *, dynamic_batch: bool = True,
                       opset: int = 17) -> None:
    """Export as another tool would: the TorchScript exporter, BatchNorm kept."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["x"],
                          output_names=["y"], do_constant_folding=False,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None)


class MaskedAttention(nn.Module):
    """transformers-style attention mask code: bool comparisons of token ids, ``&``, ``~``,
    ``masked_fill`` (Where on a bool condition), positions from ``arange`` (Range) and the
    additive ``(1 - mask) * -1e4`` bias before a softmax."""

    def forward(self, ids: torch.Tensor, x: torch.Tensor):
        mask = (ids != 0) & (ids < 100)
        pos = torch.arange(ids.shape[1])
        y = x.masked_fill(~mask[..., None], 0.0) + pos[None, :, None].to(x.dtype)
        bias = (1.0 - mask[:, None, :].to(x.dtype)) * -1e4
        return y, torch.softmax(y @ y.transpose(1, 2) + bias, dim=-1)


class MobileNetV3Block(nn.Module):
    """A MobileNetV3 inverted-residual block: depthwise conv, Hardswish, a squeeze-excite
    gate with Hardsigmoid."""

    def __init__(self, channels: int = 8, squeeze: int = 4):
        super().__init__()
        self.expand = nn.Conv2d(channels, 2 * channels, 1)
        self.dw = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels)
        self.act = nn.Hardswish()
        self.fc1 = nn.Conv2d(2 * channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, 2 * channels, 1)
        self.gate = nn.Hardsigmoid()
        self.project = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.dw(self.act(self.expand(x))))
        h = h * self.gate(self.fc2(torch.relu(self.fc1(h.mean((2, 3), keepdim=True)))))
        return x + self.project(h)


class PermuteAttention(nn.Module):
    """Plain PyTorch multi-head attention that unpacks ``q, k, v`` straight off
    ``qkv.permute(2, 0, 3, 1, 4)`` (``[3, N, heads, L, d]``: the batch axis second)."""

    def __init__(self, dim: int = 32, heads: int = 4):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class TimmAttention(nn.Module):
    """timm's ``Attention`` written out: ``qkv.unbind(0)``, per-head q/k LayerNorm
    (``qk_norm=True``) and ``F.scaled_dot_product_attention`` (timm's fused path)."""

    def __init__(self, dim: int = 32, heads: int = 4):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm, self.k_norm = nn.LayerNorm(self.head_dim), nn.LayerNorm(self.head_dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        x = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init: float = 0.1):
        super().__init__()
        self.gamma = nn.Parameter(init * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TimmBlock(nn.Module):
    """timm's ViT ``Block``: pre-norm, attention and MLP each with LayerScale."""

    def __init__(self, dim: int = 32, heads: int = 4, attention=TimmAttention):
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(dim, eps=1e-6), attention(dim, heads), LayerScale(dim)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, 4 * dim), LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PermuteViT(nn.Module):
    """A small ViT on ``[N, 3, 16, 16]`` images (4 px patches, width 32, 4 heads) whose
    blocks use ``attention`` (:class:`PermuteAttention` or :class:`TimmAttention`)."""

    def __init__(self, attention=PermuteAttention, depth: int = 2, dim: int = 32, classes: int = 10):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, 4, stride=4)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, 17, dim))
        self.blocks = nn.Sequential(*[TimmBlock(dim, 4, attention) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])
