"""Fitting SI-exp's tables T(t), h(t), d(t) (SIT Section 3.3 and 4.2).

SIT trains the K-step tables on 10,000 evenly spaced points in [−1, 1] against exp(x).
The spike z(t) = Θ(v(t) − T(t)) has no gradient, so training uses a surrogate:

1. init: a binary expansion of x + 1 ∈ [0, 2] — step 1 always fires (T = −2, h = −1:
   the membrane becomes x + 1) and step t ≥ 2 has T = h = 2^(2−t), a successive-
   approximation coder; d(1) = e^−1 (the base) and d(t) = (e − e^−1)·2^(1−t) (each bit's
   share of the range). A seeded jitter (``torch.manual_seed``) breaks ties.
2. a continuation phase, z = sigmoid((v − T)/τ) with τ annealed geometrically, which
   moves the thresholds to where exp's curvature wants them;
3. the surrogate-gradient phase: z = Θ(v − T) forward, dΘ/du ≈ σ'(u/τ)/τ backward;
4. d refitted by least squares on the float32 spikes (out is linear in d for fixed spikes,
   so this is the exact optimum of d), then every table rounded to float32.

Adam with a cosine learning-rate schedule in both phases, float64, one CPU thread (so a
seed gives the same tables on every run). Why the error stops near 2·10⁻²: out is a
*sum* of per-step constants d(t) while exp is multiplicative; see docs/conversion.md.
"""

from __future__ import annotations

import math

import numpy as np
import torch

N_POINTS = 10_000


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward (Θ(0) = 1), sigmoid-derivative surrogate backward."""

    @staticmethod
    def forward(ctx, u, tau):
        ctx.save_for_backward(u)
        ctx.tau = tau
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        s = torch.sigmoid(u / ctx.tau)
        return grad * s * (1 - s) / ctx.tau, None


def binary_init(K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The successive-approximation starting point described in the module docstring."""
    if K < 1:
        raise ValueError(f"fit_si_exp: K must be >= 1, got {K}")
    steps = np.array([2.0 ** (1 - t) for t in range(1, K)])
    T = np.r_[-2.0, steps]
    h = np.r_[-1.0, steps]
    d = np.r_[math.exp(-1.0), (math.e - math.exp(-1.0)) * steps / 2.0]
    return T, h, d


def _run(x, T, h, d, tau, hard):
    v, out = x, torch.zeros_like(x)
    for t in range(T.shape[0]):
        z = _SpikeFn.apply(v - T[t], tau) if hard else torch.sigmoid((v - T[t]) / tau)
        v = v - h[t] * z
        out = out + d[t] * z
    return out


def _phase(x, y, params, iters, lr, tau0, tau1, hard):
    if iters <= 0:
        return
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    T, h, d = params
    for i in range(iters):
        tau = tau0 * (tau1 / tau0) ** (i / max(iters - 1, 1))
        loss = torch.mean((_run(x, T, h, d, tau, hard) - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def spikes_f32(x: np.ndarray, T, h) -> np.ndarray:
    """Spikes ``[len(x), K]`` of SI-exp computed in float32, as :class:`SIExp` does."""
    v = np.asarray(x, np.float32)
    T, h = np.asarray(T, np.float32), np.asarray(h, np.float32)
    z = np.zeros((v.size, T.size), np.float32)
    for t in range(T.size):
        fire = v >= T[t]
        z[:, t] = fire
        v = np.where(fire, v - h[t], v).astype(np.float32)
    return z


def rmse_f32(T, h, d, lo: float = -1.0, hi: float = 1.0, n: int = N_POINTS) -> float:
    """RMSE of SI-exp (float32) against exp on n evenly spaced points in [lo, hi]."""
    x = np.linspace(lo, hi, n, dtype=np.float32)
    z = spikes_f32(x, T, h)
    out = (z * np.asarray(d, np.float32)).sum(axis=1, dtype=np.float32)
    return float(np.sqrt(np.mean((out.astype(np.float64) - np.exp(x.astype(np.float64))) ** 2)))


def fit_si_exp(K: int, seed: int = 0, soft_iters: int = 1500, hard_iters: int = 1000,
               lr: float = 3e-3, tau: tuple[float, float] = (0.05, 1e-3),
               hard_tau: tuple[float, float] = (1e-2, 1e-3), jitter: float = 1e-3,
               n_points: int = N_POINTS) -> dict:
    """Fit SI-exp's tables for K steps to exp on ``n_points`` evenly spaced points in
    [−1, 1] (SIT Section 3.3). Deterministic for a given ``seed``.

    Returns ``{"K", "T", "h", "d" (float32 lists), "rmse" (float32 SI-exp vs exp on the
    training points), "seed", "soft_iters", "hard_iters"}``.
    """
    if int(K) != K or K < 1:
        raise ValueError(f"fit_si_exp: K must be an integer >= 1, got {K}")
    K = int(K)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        x = torch.linspace(-1.0, 1.0, n_points, dtype=torch.float64)
        y = torch.exp(x)
        params = []
        for table in binary_init(K):
            p = torch.tensor(table, dtype=torch.float64)
            p = p + jitter * torch.randn(K, dtype=torch.float64) * p.abs()
            params.append(p.requires_grad_(True))
        _phase(x, y, params, soft_iters, lr, tau[0], tau[1], hard=False)
        _phase(x, y, params, hard_iters, lr / 3, hard_tau[0], hard_tau[1], hard=True)
    finally:
        torch.set_num_threads(threads)
    T = params[0].detach().numpy().astype(np.float32)
    h = params[1].detach().numpy().astype(np.float32)
    xs = np.linspace(-1.0, 1.0, n_points, dtype=np.float32)
    z = spikes_f32(xs, T, h).astype(np.float64)
    d = np.linalg.lstsq(z, np.exp(xs.astype(np.float64)), rcond=None)[0].astype(np.float32)
    return {"K": K, "T": T.tolist(), "h": h.tolist(), "d": d.tolist(),
            "rmse": rmse_f32(T, h, d, n=n_points), "seed": seed,
            "soft_iters": soft_iters, "hard_iters": hard_iters}
