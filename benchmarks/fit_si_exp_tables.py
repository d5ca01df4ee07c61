"""Fit SI-exp's tables for K = 4…16 and write them into the package.

    python benchmarks/fit_si_exp_tables.py [--ks 4-16] [--seed 0] [--out PATH]

Runs :func:`snnc.nn.fit_si_exp` (SIT Section 3.3: 10,000 evenly spaced points in
[−1, 1] against exp, surrogate-gradient training) for each K and writes
``compiler/nn/si_exp_tables.json`` (``snnc.nn.SIExp.from_table(K)`` reads it; nothing
trains at import time). Prints each K's RMSE against SIT's 0.0015413. Deterministic for a
seed; a few tens of seconds per K on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_OUT = ROOT / "compiler" / "nn" / "si_exp_tables.json"
PAPER_RMSE = 0.0015413


def parse_ks(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(k) for k in text.split(",")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="4-16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    from snnc.nn import fit_si_exp

    tables = {}
    settings = None
    for K in parse_ks(args.ks):
        t0 = time.perf_counter()
        fit = fit_si_exp(K, seed=args.seed)
        settings = {k: fit[k] for k in ("seed", "soft_iters", "hard_iters")}
        tables[str(K)] = {k: fit[k] for k in ("T", "h", "d", "rmse")}
        print(f"K={K:2d}  RMSE on [-1,1] = {fit['rmse']:.6f}  (SIT: {PAPER_RMSE})  "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    tables["meta"] = {"fitted_by": "benchmarks/fit_si_exp_tables.py (snnc.nn.fit_si_exp)",
                      "points": "10000 evenly spaced in [-1, 1], float32", **(settings or {})}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(tables, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
