"""SIT's figures from the shipped SI-exp tables: SI-exp RMSE and Spiking-Softmax MSE.

    python benchmarks/bench_sit.py [--ks all] [--softmax-ks 4-16] [--dims 2,16,197] [--rows 2048] [--seed 0]

1. SI-exp (SIT Eq. 2-4, ``snnc.nn.SIExp.from_table(K)``, float32) against exp on 10,000
   evenly spaced points in [−1, 1], per K, next to SIT's 0.0015413 (Section 3.3), and the
   floor no K-step SI-exp can beat (:func:`snnc.nn.sit_fit.interval_bound` of 2^K: at
   most 2^K intervals of constant output), and the least K that floor allows for SIT's
   figure; then the least shipped K whose table meets SIT's figure (or that none does).
2. Spiking-Softmax (SIT Eq. 1, 5-10, ``snnc.nn.SpikingSoftmax(K)``) against softmax on
   inputs drawn uniformly from [−1, 1] (Section 4.2: "random values in the range
   [−1, 1]"), per K, next to SIT's 0.013991 at K = 12 (Fig. 7). SIT does not give the
   input shape; we use ``--rows`` rows of each length in ``--dims`` (2: the widest
   softmax outputs; 197: a ViT-S/16 attention row at 224×224), softmax over the row, MSE
   over all elements. Two SI-norm variants: Eq. 10 as written with N_spike = 1 (Fig. 5b,
   the default) and the stepped neuron of Fig. 5a with T = K steps (outputs quantised to
   1/K) — the paper does not say which Fig. 7 used. The stepped one outputs 0 wherever
   softmax < 1/K (every element at n = 197), so its MSE there is only mean(softmax²).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER_RMSE = 0.0015413
PAPER_MSE_K12 = 0.013991


def parse_list(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(v) for v in text.split(",")]


def si_exp_rmse(K: int) -> tuple[float, int]:
    """RMSE of the shipped K table, and how many intervals of one spike pattern it makes
    along the 10,000 points (at most 2^K)."""
    import torch

    from snnc.nn import SIExp

    x = torch.linspace(-1.0, 1.0, 10_000, dtype=torch.float32)
    neuron = SIExp.from_table(K)
    out = neuron(x).double()
    z = neuron.spike_train(x)                                   # [K, 10000]
    runs = 1 + int((z[:, 1:] != z[:, :-1]).any(dim=0).sum())
    return float(torch.sqrt(torch.mean((out - torch.exp(x.double())) ** 2))), runs


def softmax_mse(K: int, x: np.ndarray, timesteps: int | None) -> float:
    import torch

    from snnc.nn import SpikingSoftmax

    got = SpikingSoftmax(K, dim=-1, timesteps=timesteps)(torch.from_numpy(x)).double().numpy()
    e = np.exp(x.astype(np.float64))
    want = e / e.sum(axis=-1, keepdims=True)
    return float(np.mean((got - want) ** 2))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="all", help="SI-exp K's (default: every shipped table)")
    ap.add_argument("--softmax-ks", default="4-16", help="Spiking-Softmax K's")
    ap.add_argument("--dims", default="2,16,197")
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from snnc.nn.sit import shipped_ks
    from snnc.nn.sit_fit import interval_bound

    ks = shipped_ks() if args.ks == "all" else parse_list(args.ks)
    dims = parse_list(args.dims)

    print(f"SI-exp RMSE vs exp on 10,000 points in [-1, 1] (SIT: {PAPER_RMSE})")
    print("floor: best piecewise-constant fit with 2^K intervals (no K-step SI-exp can beat it);")
    print("used: intervals of one spike pattern the table makes; floor(used): the best fit with that many")
    print("   K      RMSE  <= SIT?     floor   used  floor(used)  RMSE/floor(used)")
    first = None
    for K in ks:
        r, used = si_exp_rmse(K)
        if first is None and r <= PAPER_RMSE:
            first = K
        fu = interval_bound(used)
        print(f"  {K:2d}  {r:.6f}  {'yes' if r <= PAPER_RMSE else 'no ':3s}    {interval_bound(2 ** K):.6f}"
              f"  {used:5d}     {fu:.6f}  {r / fu:6.2f}")
    lo, need = 1, 10_000                 # the floor falls with the interval count: bisect
    while need - lo > 1:
        mid = (lo + need) // 2
        lo, need = (lo, mid) if interval_bound(mid) <= PAPER_RMSE else (mid, need)
    print(f"SIT's {PAPER_RMSE} needs >= {need} intervals, so K >= {math.ceil(math.log2(need))} "
          "steps, whatever the tables")
    if first is not None:
        print(f"first K whose shipped table meets SIT's {PAPER_RMSE}: K = {first}")
    else:
        print(f"no K in {ks[0]}..{ks[-1]} meets SIT's {PAPER_RMSE} with the shipped tables")

    rng = np.random.default_rng(args.seed)
    inputs = {n: rng.uniform(-1.0, 1.0, size=(args.rows, n)).astype(np.float32) for n in dims}
    print(f"\nSpiking-Softmax MSE vs softmax, inputs U[-1, 1] of shape [{args.rows}, n], "
          f"softmax over n (SIT Fig. 7: {PAPER_MSE_K12} at K = 12)")
    head = "".join(f"{f'n={n} Eq.10':>14s}{f'n={n} T=K':>14s}" for n in dims)
    print(f"   K{head}")
    for K in parse_list(args.softmax_ks):
        cells = []
        for n in dims:
            cells.append(f"{softmax_mse(K, inputs[n], None):14.3e}")
            cells.append(f"{softmax_mse(K, inputs[n], K):14.3e}")
        print(f"  {K:2d}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
