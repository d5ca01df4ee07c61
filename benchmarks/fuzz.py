"""The long fuzz run of issue 17: thousands of mutants of small valid ONNX files and IR
JSON documents through ``snnc show``, then ``simulate``, ``check``, ``opt`` or ``report`` in
turn, and (every tenth) ``compile``.

    python benchmarks/fuzz.py [--cases 5000] [--seed 0] [--keep failing/]

Prints the number of mutated inputs and runs, the exit codes seen and the number of
internal errors (exit 70 or a traceback; the target is 0), listing each with its
mutation. Bounds are checked against 1 GiB of "free memory" so a mutant cannot make
the run allocate more (``--real-memory`` uses the machine's figure).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="copy each failing mutant into this folder")
    parser.add_argument("--real-memory", action="store_true", help="check bounds against the real free memory")
    args = parser.parse_args()
    if not args.real_memory:
        import snnc.ir.limits

        snnc.ir.limits.available_bytes = lambda: 1 << 30
    import fuzzing

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="snnc-fuzz-") as folder:
        outcome = fuzzing.fuzz(Path(folder), args.cases, seed=args.seed, keep=args.keep)
    seconds = time.perf_counter() - start
    print(f"fuzz: {outcome.cases} mutated inputs (seed {args.seed}), {outcome.runs} runs in {seconds:.1f} s; "
          f"exit codes {dict(sorted(outcome.codes.items()))}; {len(outcome.failures)} internal errors")
    for line in outcome.failures:
        print("  " + line)
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
