"""Fitting SI-exp's tables T(t), h(t), d(t) (SIT Section 3.3 and 4.2).

SIT trains the K-step tables on 10,000 evenly spaced points in [−1, 1] against exp(x).
The spike z(t) = Θ(v(t) − T(t)) has no gradient, so training uses a surrogate:

1. starts: :func:`binary_init` (a successive-approximation coder of x + 1 ∈ [0, 2]) and
   :func:`mixed_init` (a thermometer staircase plus a shorter binary coder), each with a
   seeded jitter (``torch.manual_seed``) and each with every schedule in ``SCHEDULES``;
2. a continuation phase, z = sigmoid((v − T)/τ) with τ annealed geometrically, which
   moves the thresholds to where exp's curvature wants them;
3. the surrogate-gradient phase: z = Θ(v − T) forward, dΘ/du ≈ σ'(u/τ)/τ backward;
4. d refitted by least squares on the float32 spikes (out is linear in d for fixed spikes,
   so this is the exact optimum of d), every table rounded to float32, and the start
   with the lowest RMSE kept (the landscape is rough: starts end far apart).

Adam with a cosine learning-rate schedule in both phases, float64, one CPU thread (so a
seed gives the same tables on every run). Why the error stays near 10⁻² (K = 16: 0.0146, far
from SIT's 0.0015413): out is a *sum* of per-step constants d(t) while exp is
multiplicative; see docs/conversion.md.
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


def mixed_init(K: int, n_therm: int | None = None):
    """A thermometer/binary mix: ``n_therm`` (default K // 2) steps with h = 0 fire for x
    above points evenly spaced in exp(x) (they add a staircase that absorbs exp's
    curvature at the coarse scale, where a shared per-bit weight cannot), then the
    binary coder of :func:`binary_init` with the remaining steps; d by least squares."""
    n_therm = K // 2 if n_therm is None else n_therm
    T_b, h_b, _ = binary_init(K - n_therm)
    T_t = np.log(np.linspace(math.exp(-1.0), math.e, n_therm + 2)[1:-1])
    T, h = np.r_[T_t, T_b], np.r_[np.zeros(n_therm), h_b]
    x = np.linspace(-1.0, 1.0, N_POINTS, dtype=np.float32)
    z = spikes_f32(x, T, h).astype(np.float64)
    d = np.linalg.lstsq(z, np.exp(x.astype(np.float64)), rcond=None)[0]
    return T, h, d


# (lr, (tau start, tau end)) of the continuation phase; each start runs with each
SCHEDULES = ((1e-2, (0.2, 1e-3)), (3e-3, (0.02, 1e-3)))


def _train(K, init, seed, soft_iters, hard_iters, lr, tau, jitter, n_points):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        x = torch.linspace(-1.0, 1.0, n_points, dtype=torch.float64)
        y = torch.exp(x)
        params = []
        for table in init:
            p = torch.tensor(np.asarray(table, np.float64), dtype=torch.float64)
            p = p + jitter * torch.randn(K, dtype=torch.float64) * p.abs()
            params.append(p.requires_grad_(True))
        _phase(x, y, params, soft_iters, lr, tau[0], tau[1], hard=False)
        _phase(x, y, params, hard_iters, lr / 3, 1e-2, 1e-3, hard=True)
    finally:
        torch.set_num_threads(threads)
    return params[0].detach().numpy(), params[1].detach().numpy()


def _finish(T, h, n_points):
    """Round T, h to float32, refit d by least squares on the float32 spikes."""
    T, h = np.asarray(T, np.float32), np.asarray(h, np.float32)
    xs = np.linspace(-1.0, 1.0, n_points, dtype=np.float32)
    z = spikes_f32(xs, T, h).astype(np.float64)
    d = np.linalg.lstsq(z, np.exp(xs.astype(np.float64)), rcond=None)[0].astype(np.float32)
    return T, h, d, rmse_f32(T, h, d, n=n_points)


def fit_si_exp(K: int, seed: int = 0, soft_iters: int = 800, hard_iters: int = 500,
               jitter: float = 1e-3, n_points: int = N_POINTS, init=None) -> dict:
    """Fit SI-exp's tables for K steps to exp on ``n_points`` evenly spaced points in
    [−1, 1] (SIT Section 3.3). Deterministic for a given ``seed``.

    Trains from :func:`binary_init` and :func:`mixed_init`, each with every schedule in
    ``SCHEDULES`` (and from ``init``, a ``(T, h, d)`` triple, if given: e.g. the K−1
    table plus one step), and keeps the start with the lowest float32 RMSE. A start is
    scored as it ends *and* as it began, so a given ``init`` is never made worse.

    Returns ``{"K", "T", "h", "d" (float32 lists), "rmse" (float32 SI-exp vs exp on the
    training points), "start", "seed", "soft_iters", "hard_iters"}``.
    """
    if int(K) != K or K < 1:
        raise ValueError(f"fit_si_exp: K must be an integer >= 1, got {K}")
    K = int(K)
    starts = [("binary", binary_init(K)), ("mixed", mixed_init(K))]
    if init is not None:
        if any(np.shape(t) != (K,) for t in init):
            raise ValueError(f"fit_si_exp: init must be three tables of K = {K} entries")
        starts.append(("init", init))
    best = None
    run = 0
    for name, table in starts:
        cands = [(f"{name} (untrained)", table[0], table[1])] if name == "init" else []
        for lr, tau in SCHEDULES:
            T, h = _train(K, table, seed * 1000 + run, soft_iters, hard_iters, lr, tau,
                          jitter, n_points)
            cands.append((f"{name}, lr {lr:g}, tau {tau[0]:g}", T, h))
            run += 1
        for label, T, h in cands:
            T, h, d, rmse = _finish(T, h, n_points)
            if best is None or rmse < best[-1]:
                best = (label, T, h, d, rmse)
    label, T, h, d, rmse = best
    return {"K": K, "T": T.tolist(), "h": h.tolist(), "d": d.tolist(), "rmse": rmse,
            "start": label, "seed": seed, "soft_iters": soft_iters, "hard_iters": hard_iters}


def fit_si_exp_series(ks, seed: int = 0, progress=None, **kwargs) -> dict[int, dict]:
    """:func:`fit_si_exp` for each K in ``ks`` (ascending), each K also warm-started from
    the K−1 result plus one silent finest step (d = 0, so it starts exactly as good):
    the error then never grows with K, and the chain ends far lower than independent
    fits (K = 16: 0.0146 against 0.0201). This is how the shipped tables are made.
    ``progress(fit, seconds)`` is called after each K."""
    import time

    fits: dict[int, dict] = {}
    prev = None
    for K in sorted(int(k) for k in ks):
        t0 = time.perf_counter()
        init = None
        if prev is not None and prev["K"] == K - 1:
            step = abs(prev["h"][-1]) / 2
            init = (prev["T"] + [step], prev["h"] + [step], prev["d"] + [0.0])
        prev = fits[K] = fit_si_exp(K, seed=seed, init=init, **kwargs)
        if progress is not None:
            progress(prev, time.perf_counter() - t0)
    return fits
