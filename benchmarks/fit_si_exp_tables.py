"""Fit SI-exp's tables for K = 4…16 and write them into the package.

    python benchmarks/fit_si_exp_tables.py [--ks 4-16] [--seed 0] [--restarts 3] [--beams 1,2]
                                           [--hops 8] [--out PATH]
    python benchmarks/fit_si_exp_tables.py --lanes 12,6,0.5 --ks 40,48,64 [--seed 0] [--out PATH]

Runs :func:`snnc.nn.sit_fit.search_si_exp_series` (SIT Section 3.3: 10,000 evenly spaced
points in [−1, 1] against exp; a structural search: thermometer-step insertion, coordinate
line search with d exact, basin hops, 3 chains, best per K) and writes
``compiler/nn/si_exp_tables.json`` (``snnc.nn.SIExp.from_table(K)`` reads it; nothing
trains at import time). Prints each K's RMSE against SIT's 0.0015413.
``--lanes M,B,SPREAD`` instead builds :func:`snnc.nn.sit_lanes.lane_table` (M lanes of B
binary steps, K = M·(B + 1)), polishes it and prunes it one step at a time down to each
``--ks`` (:func:`snnc.nn.sit_lanes.prune_si_exp_series`), keeping per K the better of it
and the table already in ``--out``.
Deterministic for a seed; two searches (beam 1 and 2, best per K kept), about 12 min for
K = 4…16 on one free core (numpy only, single-threaded).
"""

from __future__ import annotations

import os

# single-threaded: the machines that regenerate the tables are shared, and one thread keeps
# BLAS's summation order (hence the float32 d tables) the same on every machine; set
# before numpy loads OpenBLAS
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

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
    ap.add_argument("--restarts", type=int, default=3, help="independent chains")
    ap.add_argument("--beams", default="1,2",
                    help="tables kept per K in each chain; one search per value, best per K kept")
    ap.add_argument("--hops", type=int, default=8, help="basin hops per K")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--lanes", default=None, metavar="M,B[,SPREAD]",
                    help="instead of growing: build the lane table of M lanes of B bits "
                         "(snnc.nn.sit_lanes), polish it, prune it down to each --ks; per K the "
                         "better of it and --out's table is kept")
    ap.add_argument("--extend", type=int, default=None, metavar="K0",
                    help="grow from the K0 table already in --out and add the fitted K's to it "
                         "(the other tables stay as they are)")
    args = ap.parse_args(argv)
    import torch

    from snnc.nn.sit_fit import search_si_exp_series

    torch.set_num_threads(1)

    def show(fit, seconds):
        print(f"K={fit['K']:2d}  RMSE on [-1,1] = {fit['rmse']:.6f}  (SIT: {PAPER_RMSE})  "
              f"{seconds:.1f} s, best start: {fit['start']}", flush=True)

    # no one beam width wins at every K (the chains' greedy paths diverge): run each, keep
    # the lowest RMSE per K
    start, old = None, {}
    if args.lanes is not None:
        return _lanes(args, show)
    if args.extend is not None:
        if not args.out.is_file():
            print(f"error: --extend {args.extend}: no tables file {args.out}; give --out an existing "
                  "si_exp_tables.json (or drop --extend)", file=sys.stderr)
            return 2
        old = json.loads(args.out.read_text())
        if str(args.extend) not in old:
            print(f"error: --extend {args.extend}: no K = {args.extend} table in {args.out}; "
                  f"pick one of {sorted(int(k) for k in old if k.isdigit())}", file=sys.stderr)
            return 2
        start = (old[str(args.extend)]["T"], old[str(args.extend)]["h"])
    fits: dict[int, dict] = {}
    for beam in (int(b) for b in args.beams.split(",")):
        print(f"-- beam {beam}", flush=True)
        for K, fit in search_si_exp_series(parse_ks(args.ks), seed=args.seed, restarts=args.restarts,
                                           beam=beam, hops=args.hops, progress=show,
                                           start=start).items():
            fit["start"] += f", beam {beam}"
            if start is not None:
                fit["start"] += f", grown from the K = {args.extend} table"
            if K not in fits or fit["rmse"] < fits[K]["rmse"]:
                fits[K] = fit
    tables = {str(K): {k: fit[k] for k in ("T", "h", "d", "rmse", "start")}
              for K, fit in fits.items()}
    last = fits[max(fits)]
    settings = {"seed": last["seed"], "restarts": args.restarts, "beams": args.beams, "hops": args.hops}
    if start is not None:
        # the earlier tables and their settings stay; the grown K's record theirs apart
        extended = old.get("meta", {}).get("extended", {})
        extended[args.ks] = {**settings, "from_K": args.extend}
        tables = {**old, **tables, "meta": {**old.get("meta", {}), "extended": extended}}
    else:
        tables["meta"] = {"fitted_by": "benchmarks/fit_si_exp_tables.py (snnc.nn.sit_fit.search_si_exp_series)",
                          "points": "10000 evenly spaced in [-1, 1], float32", **settings}
    _write(args.out, tables)
    return 0


def _lanes(args, show) -> int:
    """``--lanes``: prune a lane table down to each K; keep the better table per K."""
    from snnc.nn.sit_lanes import prune_si_exp_series

    try:
        m, b, *rest = args.lanes.split(",")
        lanes, bits, spread = int(m), int(b), float(rest[0]) if rest else 0.5
    except ValueError:
        print(f"error: --lanes {args.lanes!r}: give M,B or M,B,SPREAD (e.g. 12,6,0.5)", file=sys.stderr)
        return 2
    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    fits = prune_si_exp_series(parse_ks(args.ks), lanes, bits, spread, seed=args.seed, progress=show)
    tables = merge_best(old, {str(K): {k: fit[k] for k in ("T", "h", "d", "rmse", "start")}
                              for K, fit in fits.items()})
    meta = tables.setdefault("meta", {})
    meta.setdefault("lanes", {})[args.ks] = {"lanes": lanes, "bits": bits, "spread": spread, "seed": args.seed}
    tables["meta"] = meta
    _write(args.out, tables)
    return 0


def merge_best(old: dict, new: dict) -> dict:
    """Per K the lower-RMSE table of ``old`` and ``new``; a K whose table is no better
    than a smaller K's is dropped (it would cost more steps for a worse exp). Keys other
    than K's (``meta``) come from ``old``."""
    ks = sorted({int(k) for k in (*old, *new) if k.isdigit()})
    tables = {k: v for k, v in old.items() if not k.isdigit()}
    best = float("inf")
    for K in ks:
        tab = min((t[str(K)] for t in (old, new) if str(K) in t), key=lambda t: t["rmse"])
        if tab["rmse"] < best:
            tables[str(K)] = tab
            best = min(best, tab["rmse"])
        else:
            print(f"K={K}: dropped ({tab['rmse']:.6f} >= {best:.6f} at a smaller K)")
    return tables


def _write(out: Path, tables: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(tables, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
