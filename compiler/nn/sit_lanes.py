"""SI-exp tables built from *lanes*, then pruned one step at a time (SIT Eq. 2-4).

The grown search (:func:`snnc.nn.sit_fit.search_si_exp_series`) adds one step per K and
stalls near RMSE 0.0035 at K = 33: its tables cut [−1, 1] into only ~0.3·K² intervals.
A layout that uses intervals far better is written down directly:

- split [−1, 1] into ``lanes`` segments, narrower where exp curves more (widths
  ∝ e^(−spread·x));
- from the top lane down, each lane gets ``bits`` binary steps on its own residual
  (threshold lo + w/2^j, subtract w/2^j: the lane's binary digits, read only by values
  in that lane, since lower lanes sit below every threshold) and then one *eject* step
  (threshold lo, subtract 100): its values leave for good, so later lanes never see them,
  and the eject's d is the lane's offset;
- one first step that always fires (T = −100, h = 0) is the bottom lane's offset.

Each lane is then an independent staircase (2^bits levels) with its own slope, so the
table is piecewise linear with ``lanes`` pieces: K = lanes·(bits + 1) steps and
lanes·2^bits intervals. Lanes 12, bits 6 (K = 84) gives RMSE 0.0014 as built, 0.0007
after the coordinate polish of :mod:`sit_fit`; pruned, SIT's 0.0015413 holds down to K = 47. :func:`prune_si_exp_series` then walks K
down: drop the step whose removal costs least (every candidate scored, d exact), polish,
repeat — each K starts from a good K + 1 table instead of growing blind.
"""

from __future__ import annotations

import time

import numpy as np

from .sit_fit import N_POINTS, SEARCH_POINTS, _finish_search, _polish, _Scorer

#: h of an eject step: moves a lane's residual below every later threshold (inputs are in [−1, 1])
EJECT = 100.0


def lane_table(lanes: int, bits: int, spread: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(T, h)`` of the lane layout above: ``lanes·(bits + 1)`` steps."""
    if lanes < 1 or bits < 1:
        raise ValueError(f"lane_table: lanes and bits must be >= 1, got {lanes}, {bits}")
    u = np.linspace(0.0, 1.0, lanes + 1)
    p = float(spread) or 1e-6
    # edges where the integral of e^(p·x) over [−1, x] is uniform: widths ∝ e^(−p·x)
    edges = np.log(np.exp(-p) + u * (np.exp(p) - np.exp(-p)))[::-1] / p
    edges[0], edges[-1] = 1.0001, -1.0001           # both ends strictly outside [−1, 1]
    T, h = [-EJECT], [0.0]
    for m in range(lanes):
        lo, w = edges[m + 1], edges[m] - edges[m + 1]
        for j in range(1, bits + 1):
            T.append(lo + w / 2 ** j)
            h.append(w / 2 ** j)
        if m < lanes - 1:
            T.append(lo)
            h.append(EJECT)
    return np.array(T, np.float32), np.array(h, np.float32)


def prune_si_exp_series(ks, lanes: int = 12, bits: int = 6, spread: float = 0.5, seed: int = 0,
                        n_search: int = SEARCH_POINTS, n_points: int = N_POINTS,
                        progress=None) -> dict[int, dict]:
    """SI-exp tables for each K in ``ks`` (each ≤ ``lanes·(bits + 1)``): the lane table,
    polished, then pruned one step at a time down to ``min(ks)``. Search on ``n_search``
    points; each wanted K is polished on all ``n_points`` and its d fitted by least
    squares (float32), as :func:`search_si_exp_series` finishes. Deterministic for a
    ``seed``; ``progress(fit, seconds)`` after each wanted K."""
    T, h = lane_table(lanes, bits, spread)
    wanted = sorted({int(k) for k in ks}, reverse=True)
    if not wanted or wanted[-1] < 1 or wanted[0] > T.size:
        raise ValueError(f"prune_si_exp_series: K must be in 1…{T.size} for {lanes} lanes of "
                         f"{bits} bits, got {ks}")
    score, rng = _Scorer(n_search), np.random.default_rng(seed)
    T, h, cur = _polish(score, T, h, float(score(T, h)[0]), rng)
    fits: dict[int, dict] = {}
    t0 = time.perf_counter()
    while True:
        K = T.size
        if K in wanted:
            Tf, hf, d, rmse = _finish_search(T, h, n_points, seed)
            fits[K] = {"K": K, "T": Tf.tolist(), "h": hf.tolist(), "d": d.tolist(), "rmse": rmse,
                       "start": f"lanes {lanes}x{bits} (spread {spread}), pruned", "seed": seed}
            if progress is not None:
                progress(fits[K], time.perf_counter() - t0)
            t0 = time.perf_counter()
        if K == wanted[-1]:
            return fits
        TT = np.array([np.delete(T, i) for i in range(K)])
        HH = np.array([np.delete(h, i) for i in range(K)])
        r = score(TT, HH)
        i = int(np.argmin(r))
        T, h, cur = _polish(score, TT[i], HH[i], float(r[i]), rng, sweeps=2)
