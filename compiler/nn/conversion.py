"""Modules for ANN → SNN conversion (ECMT and SIT), multi-step over ``[T, N, ...]``.

ECMT (expectation compensation + multi-threshold neurons, supplement ``000_*``) reads
every layer's output as a stream whose running mean approximates the ANN activation:

    CumMean(x)(t) = S(t) / t,        S(t) = Σ_{τ ≤ t} x(τ)
    Delta(z)(t)   = t·z(t) − (t−1)·z(t−1)          (z(0) term = 0)

Theorem 1 (supplement Eq. 1): a stateless non-linearity f is compensated as
``O = Delta(f(CumMean(x)))``; Theorem 2 (Eq. 5-7): a product of two spike streams is
``O = Delta(CumMean(A) @ CumMean(B))``, computed with the running sums S_A, S_B, S_K.
In both cases the running mean of the output over the first t steps equals f (or the
product) of the running means of the inputs.

SIT (``001_*``) gives the Spiking Exponential Neuron, SI-exp (Eq. 2-4).

These are inference modules (no surrogate gradients), the numeric oracle for the
conversion pass.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from snnc.ir.kinds import float32_powers


def _time_index(x: torch.Tensor) -> torch.Tensor:
    """``[T, 1, 1, ...]`` holding t = 1..T, in x's dtype and device."""
    t = torch.arange(1, x.shape[0] + 1, dtype=x.dtype, device=x.device)
    return t.view(-1, *([1] * (x.dim() - 1)))


def _check_time_major(module: nn.Module, x: torch.Tensor, min_dim: int = 2) -> None:
    if x.dim() < min_dim:
        raise ValueError(f"{type(module).__name__} expects [T, N, ...] input, got shape {tuple(x.shape)}")


def _exporting() -> bool:
    return torch.onnx.is_in_onnx_export()


def _symbolic(op: str, inputs: tuple, attrs: dict, shape) -> torch.Tensor:
    """One ``snnc::<op>`` node under ``torch.onnx.export`` (its body: :mod:`snnc.onnx.dialect_conversion`)."""
    return torch.onnx.ops.symbolic(f"snnc::{op}", inputs, attrs, dtype=inputs[0].dtype,
                                   shape=shape, version=1)


def cum_mean(x: torch.Tensor) -> torch.Tensor:
    """CumMean(x)(t) = S(t)/t with S(t) = Σ_{τ ≤ t} x(τ), over axis 0."""
    if _exporting():
        return _symbolic("CumMean", (x,), {}, x.shape)
    return torch.cumsum(x, dim=0) / _time_index(x)


def delta(z: torch.Tensor) -> torch.Tensor:
    """Delta(z)(t) = t·z(t) − (t−1)·z(t−1) over axis 0 (the inverse of CumMean)."""
    if _exporting():
        return _symbolic("Delta", (z,), {}, z.shape)
    tz = _time_index(z) * z
    prev = torch.cat([torch.zeros_like(tz[:1]), tz[:-1]], dim=0)
    return tz - prev


class CumMean(nn.Module):
    """Running mean over time: ``CumMean(x)(t) = S(t)/t``, ``S(t) = Σ_{τ≤t} x(τ)``
    (ECMT supplement Eq. 2, the ANN activation estimate a_T = Φ(T))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_time_major(self, x)
        return cum_mean(x)


class Delta(nn.Module):
    """``Delta(z)(t) = t·z(t) − (t−1)·z(t−1)``: turns a running-mean stream back into
    per-step outputs, so that ``CumMean(Delta(z)) = z`` (ECMT supplement Eq. 1)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_time_major(self, z)
        return delta(z)


class ExpectationCompensation(nn.Module):
    """ECMT Theorem 1 (supplement Eq. 1) for a stateless non-linearity ``f``:

        O(t) = t·f(S(t)/t) − (t−1)·f(S(t−1)/(t−1)) = Delta(f(CumMean(x)))(t)

    so that ``(1/t)·Σ_{τ≤t} O(τ) = f(CumMean(x)(t))``: the output's running mean is f of
    the input's running mean. ``f`` (GELU, LayerNorm, softmax, ...) is applied on
    ``[T*N, ...]``, time folded into the batch; it must not mix batch elements.
    """

    def __init__(self, f: nn.Module | Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.f = f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_time_major(self, x)
        t, n = x.shape[:2]
        m = cum_mean(x).reshape(t * n, *x.shape[2:])
        y = self.f(m)
        return delta(y.reshape(t, n, *y.shape[1:]))


class SpikingMatMul(nn.Module):
    """ECMT Theorem 2: product of two streams ``A [T, N, ..., m, k]``, ``B [T, N, ..., k, n]``
    by the S_K recursion (supplement Eq. 5-7):

        S_A(t) = S_A(t−1) + A(t),    S_B(t) = S_B(t−1) + B(t)
        K(t)   = A(t)·B(t) + A(t)·S_B(t−1) + S_A(t−1)·B(t)         (Eq. 7; A, B carry the
                                                                   levels v_a, v_b already)
        S_K(t) = S_K(t−1) + K(t) = S_A(t)·S_B(t)                    (Eq. 6)
        O(t)   = S_K(t)/t − S_K(t−1)/(t−1)                          (Eq. 5; 2nd term 0 at t = 1)

    Since ``S_K(t)/t = t·(S_A(t)/t)(S_B(t)/t)``, ``O = Delta(CumMean(A) @ CumMean(B))`` and the
    running mean of O at t is ``CumMean(A)(t) @ CumMean(B)(t)``. K(t) needs additions only
    where A(t) or B(t) spike; this is what the energy model counts (Eq. 13-14).
    """

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check_time_major(self, a, 3)
        _check_time_major(self, b, 3)
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"SpikingMatMul: A and B have different T ({a.shape[0]} vs {b.shape[0]})")
        if _exporting():
            batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            return _symbolic("SpikingMatMul", (a, b), {}, (*batch, a.shape[-2], b.shape[-1]))
        s_a = torch.zeros_like(a[0])
        s_b = torch.zeros_like(b[0])
        s_k = None
        out = []
        for t in range(a.shape[0]):
            k = a[t] @ b[t] + a[t] @ s_b + s_a @ b[t]
            s_k_prev = s_k
            s_k = k if s_k_prev is None else s_k_prev + k
            o = s_k / (t + 1)
            if s_k_prev is not None:
                o = o - s_k_prev / t
            out.append(o)
            s_a = s_a + a[t]
            s_b = s_b + b[t]
        return torch.stack(out)


def _as_theta(value, name: str) -> torch.Tensor:
    theta = torch.as_tensor(np.asarray(value, dtype=np.float32))
    if theta.dim() > 1:
        raise ValueError(f"MultiThreshold: {name} must be a scalar or a per-channel vector, "
                         f"got shape {tuple(theta.shape)}")
    if not (torch.isfinite(theta).all() and (theta > 0).all()):
        raise ValueError(f"MultiThreshold: {name} must be finite and > 0, got {value}")
    return theta


class MultiThreshold(nn.Module):
    """ECMT multi-threshold neuron (Section 4.3; supplement Theorem 2's A_{v_a}, B_{v_b}).

    Integrates without leak and fires at most one graded spike per step:

        V(t) = V(t−1) + x(t)                               (V(0) = 0)
        levels per sign: λ_k = θ·gap^k, k = n−1, ..., 0    (θ⁺ = theta_pos, θ⁻ = theta_neg)
        s(t) = +λ  for the largest λ = θ⁺·gap^k with  V(t) ≥ λ − θ⁺/2
               −λ  for the largest λ = θ⁻·gap^k with −V(t) ≥ λ − θ⁻/2   (if no positive one)
               0   otherwise
        V(t) ← V(t) − s(t)                                  (subtract what was fired)

    The output is s, one of ``{0, ±θ·gap^k}``. θ may be a scalar or a per-channel vector
    ``[C]``, broadcast over axis 2 of ``[T, N, C, ...]``. Levels and firing bounds are
    float32 numbers: ``λ = f32(θ)·g_k`` with ``g_0 = 1, g_{k+1} = f32(g_k·f32(gap))``, bound
    ``λ − f32(θ)/2``.
    """

    def __init__(self, levels: int = 8, theta_pos=1.0, theta_neg=None, gap: float = 2.0):
        super().__init__()
        if int(levels) != levels or levels < 1:
            raise ValueError(f"MultiThreshold: levels must be an integer >= 1, got {levels}")
        if not (np.isfinite(gap) and gap >= 1.0):
            raise ValueError(f"MultiThreshold: gap must be finite and >= 1, got {gap}")
        self.levels = int(levels)
        self.gap = float(np.float32(gap))          # the ONNX attribute is a float32
        pos = _as_theta(theta_pos, "theta_pos")
        neg = pos.clone() if theta_neg is None else _as_theta(theta_neg, "theta_neg")
        self.register_buffer("theta_pos", pos)
        self.register_buffer("theta_neg", neg)
        # plain floats for export (reading buffers while tracing would specialise shapes)
        self._theta_lists = (tuple(float(v) for v in pos.reshape(-1)), tuple(float(v) for v in neg.reshape(-1)))
        # gap^k as running float32 products, as the snnc::MultiThreshold body computes them
        scale = torch.tensor(float32_powers(self.gap, self.levels))
        shape = (self.levels,) + (1,) * pos.dim()
        # [levels, C] (or [levels]) in ascending order k = 0..n-1
        self.register_buffer("levels_pos", scale.view(shape) * pos)
        self.register_buffer("levels_neg", scale.view((self.levels,) + (1,) * neg.dim()) * neg)
        self.register_buffer("bounds_pos", self.levels_pos - pos / 2)
        self.register_buffer("bounds_neg", self.levels_neg - neg / 2)

    def _per_channel(self, table: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``table[k]`` for x[t] of shape ``[N, C, ...]``: a view ``[levels, C, 1, ...]``."""
        table = table.to(x.dtype)
        if table.dim() == 1:
            return table
        if x.dim() < 3 or x.shape[2] != table.shape[1]:
            raise ValueError(f"MultiThreshold: per-channel θ of {table.shape[1]} channels needs "
                             f"[T, N, C, ...] input with C = {table.shape[1]}, got {tuple(x.shape)}")
        return table.view(table.shape[0], table.shape[1], *([1] * (x.dim() - 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_time_major(self, x)
        if _exporting():
            return _symbolic("MultiThreshold", (x,), self.onnx_attributes(), x.shape)
        lp, bp = self._per_channel(self.levels_pos, x), self._per_channel(self.bounds_pos, x)
        ln, bn = self._per_channel(self.levels_neg, x), self._per_channel(self.bounds_neg, x)
        v = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            v = v + x[t]
            s = torch.zeros_like(v)
            # ascending k: the last level whose bound is reached is the largest one
            for k in range(self.levels):
                s = torch.where(-v >= bn[k], -ln[k].expand_as(v), s)
            for k in range(self.levels):
                s = torch.where(v >= bp[k], lp[k].expand_as(v), s)
            v = v - s
            out.append(s)
        return torch.stack(out)

    def onnx_attributes(self) -> dict:
        """``snnc::MultiThreshold``'s attributes: θ as float lists (one value, or one per channel)."""
        return {"levels": self.levels, "gap": self.gap,
                "theta_pos": list(self._theta_lists[0]), "theta_neg": list(self._theta_lists[1])}

    def extra_repr(self) -> str:
        def show(th):
            return f"{th.item():g}" if th.dim() == 0 else f"[{th.numel()} channels]"
        return (f"levels={self.levels}, theta_pos={show(self.theta_pos)}, "
                f"theta_neg={show(self.theta_neg)}, gap={self.gap:g}")


# SIExp moved to snnc.nn.sit with the rest of SIT; re-exported for old imports
from .sit import SIExp  # noqa: E402,F401
