"""The long run of tests/test_artifact_format.py's mutation test: thousands of seeded
mutations of an artifact's manifest and weights table, each loaded in process.

    python benchmarks/fuzz_artifact.py [--cases 3000] [--seed 1000]

Compiles the tests' tiny net once, then per case applies 1-3 mutations (a value swapped
for an odd one, a key deleted, a list entry duplicated) to ``manifest.json`` or to
``program.json`` (re-hashed into the manifest, so the weights-table and IR checks behind
the checksums are reached) and calls ``load_artifact``. Prints how many loaded, how many
were refused with a one-line SnncError, and how many escaped as another exception (each
one printed: a bug).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from artifact_helpers import tiny_net  # noqa: E402
from test_artifact_format import _mutate  # noqa: E402

from snnc.deploy import compile_model, load_artifact, write_artifact  # noqa: E402
from snnc.ir.errors import SnncError  # noqa: E402


def _weights_list(program):
    w = program.get("weights") if isinstance(program, dict) else None
    arrays = w.get("arrays") if isinstance(w, dict) else None
    return arrays if isinstance(arrays, list) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as root:
        art = Path(root) / "art"
        x = (rng.random((3, 1, 2, 8, 8)) < 0.4).astype(np.float32)
        write_artifact(compile_model(tiny_net(), "loihi2", inputs={"x": x}, simulate=False), art)
        manifest0, program0 = (art / "manifest.json").read_text(), (art / "program.json").read_text()
        counts = {"loaded": 0, "refused": 0, "escaped": 0}
        for i in range(args.cases):
            manifest, program = json.loads(manifest0), json.loads(program0)
            for _ in range(rng.integers(1, 4)):
                if i % 2:
                    arrays = _weights_list(program)
                    what = "program.json " + _mutate(rng, arrays if arrays and rng.random() < 0.7 else program)
                else:
                    tables = [manifest.get(k) for k in ("files", "roles") if isinstance(manifest.get(k), dict)]
                    part = tables[rng.integers(len(tables))] if tables and rng.random() < 0.7 else manifest
                    what = "manifest.json " + _mutate(rng, part)
            data = json.dumps(program).encode() if i % 2 else program0.encode()
            if i % 2 and isinstance(manifest.get("files"), dict):
                manifest["files"]["program.json"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            (art / "program.json").write_bytes(data)
            (art / "manifest.json").write_text(json.dumps(manifest))
            try:
                load_artifact(art)
                counts["loaded"] += 1
            except SnncError:
                counts["refused"] += 1
            except Exception as err:  # noqa: BLE001 -- what the run looks for
                counts["escaped"] += 1
                print(f"case {i} ({what}): {type(err).__name__}: {err}")
        shutil.rmtree(art, ignore_errors=True)
    print(f"{args.cases} mutated artifacts (seed {args.seed}): {counts['loaded']} loaded, "
          f"{counts['refused']} refused with one line, {counts['escaped']} escaped as tracebacks")


if __name__ == "__main__":
    main()
