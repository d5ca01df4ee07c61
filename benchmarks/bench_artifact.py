"""Artifact size and load time of Spikingformer-8-512 (224 px, Loihi 2): format 2 (weights
in ``weights.bin``, checksummed) against format 1 (weights base64 inside ``program.json``).

    python benchmarks/bench_artifact.py [--size 8-512] [--target loihi2] [--repeat 3]

Exports the model once (random weights, cached like bench_compile.py), compiles it
without simulation, writes the artifact, and writes beside it what format 1 held:
``to_json(program)`` with base64 params. Then, each in a fresh process, best of
``--repeat``: ``load_artifact`` (what ``snnc run`` does before running: verify every
file's size and SHA-256, parse the structure, map the weights) and the format-1 load
(``from_json`` of the base64 program plus the mapping). Prints sizes, the raw quantised
bytes (every array at the fewest whole bytes that hold it), the ratio, and the times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_import import cached_model

WRITE = r"""
import json, sys, time
path, target, out = sys.argv[1], sys.argv[2], sys.argv[3]
import numpy as np
from pathlib import Path
from snnc.onnx.importer import import_onnx
from snnc.deploy import compile_model, write_artifact
from snnc.ir.serialize import to_json
graph = import_onnx(path)
x = np.random.default_rng(0).random((1, *graph.values[graph.inputs[0]].shape)).astype(np.float32)
c = compile_model(graph, target, inputs={graph.inputs[0]: x}, simulate=False)
t = time.perf_counter()
write_artifact(c, Path(out) / "art", force=True)
write = time.perf_counter() - t
t = time.perf_counter()
(Path(out) / "v1-program.json").write_text(to_json(c.program))
write_v1 = time.perf_counter() - t
arrays = [a for n in c.program.nodes for a in n.params.values()]
def fewest(a):
    if a.dtype.kind not in "iu" or not a.size:
        return a.nbytes
    lo, hi = int(a.min()), int(a.max())
    return a.size * next(b for b in (1, 2, 4, 8) if -(1 << (8 * b - 1)) <= lo and hi < (1 << (8 * b - 1)))
print(json.dumps({"arrays": len(arrays), "in_memory": sum(a.nbytes for a in arrays),
                  "raw": sum(fewest(a) for a in arrays), "write": write, "write_v1": write_v1,
                  "cores": len(c.mapping.cores)}))
"""

LOAD = r"""
import json, sys, time
which, out = sys.argv[1], sys.argv[2]
from pathlib import Path
from snnc.deploy import load_artifact
from snnc.ir.serialize import from_json
t = time.perf_counter()
if which == "v2":
    manifest, program, mapping = load_artifact(Path(out) / "art")
else:
    program = from_json((Path(out) / "v1-program.json").read_text())
    mapping = json.loads((Path(out) / "art" / "mapping.json").read_text())
elapsed = time.perf_counter() - t
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": elapsed, "peak": peak, "params": sum(len(n.params) for n in program.nodes)}))
"""


def _child(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="8-512")
    parser.add_argument("--target", default="loihi2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "snnc-bench")
    args = parser.parse_args()
    path = cached_model(args.size, args.cache)
    with tempfile.TemporaryDirectory() as out:
        w = _child(WRITE, path, args.target, out)
        art = Path(out) / "art"
        sizes = {p.name: p.stat().st_size for p in art.iterdir()}
        v1 = (Path(out) / "v1-program.json").stat().st_size
        v2 = _child(LOAD, "v2", out)
        v1_load = _child(LOAD, "v1", out)
        for _ in range(args.repeat - 1):
            v2 = min(v2, _child(LOAD, "v2", out), key=lambda r: r["seconds"])
            v1_load = min(v1_load, _child(LOAD, "v1", out), key=lambda r: r["seconds"])
    total_v2 = sum(sizes.values())
    total_v1 = total_v2 - sizes["program.json"] - sizes["weights.bin"] + v1
    mb = 1e6
    print(f"model          spikingformer-{args.size} (ImageNet, 224 px) -> {args.target}: {w['cores']} cores, "
          f"{w['arrays']} parameter arrays")
    print(f"weights        {w['in_memory'] / mb:.1f} MB in memory, raw quantised {w['raw'] / mb:.1f} MB")
    print(f"format 1       program.json {v1 / mb:.1f} MB (base64 in JSON), artifact {total_v1 / mb:.1f} MB")
    print(f"format 2       program.json {sizes['program.json'] / mb:.2f} MB + weights.bin "
          f"{sizes['weights.bin'] / mb:.1f} MB ({sizes['weights.bin'] / w['raw']:.3f}x raw), "
          f"artifact {total_v2 / mb:.1f} MB")
    print(f"               program+weights {(sizes['program.json'] + sizes['weights.bin']) / w['raw']:.3f}x raw; "
          f"artifact {total_v1 / total_v2:.1f}x smaller")
    print(f"write          format 2 {w['write']:.2f} s (whole artifact, with sha256); "
          f"format 1 program.json alone {w['write_v1']:.2f} s")
    print(f"load           format 2 {v2['seconds']:.2f} s (verify + parse + map, peak {v2['peak'] / mb:.0f} MB); "
          f"format 1 {v1_load['seconds']:.2f} s (peak {v1_load['peak'] / mb:.0f} MB); best of {args.repeat}")


if __name__ == "__main__":
    main()
