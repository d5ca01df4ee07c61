"""Compile time and peak memory of Spikingformer-8-512 at 224 px for Loihi 2, import to artifact.

    python benchmarks/bench_compile.py [--size 8-512] [--target loihi2] [--simulate]

Exports the model once (random weights) to a cache folder, then, in a fresh process,
times ``snnc compile``'s stages (import, check, passes, quantise, map + partition,
simulate with --simulate, report, writing the artifact) and reads the process's peak
resident memory (VmHWM). For scale, the same process also times onnxruntime's
InferenceSession creation on the same file (a peer that only loads and plans it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_import import cached_model

CHILD = r"""
import json, shutil, sys, tempfile, time
path, target, simulate = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
import numpy as np
from snnc.onnx.importer import import_onnx
from snnc.deploy import compile_model, write_artifact
t0 = time.perf_counter()
graph = import_onnx(path)
t1 = time.perf_counter()
x = np.random.default_rng(0).random((1, *graph.values[graph.inputs[0]].shape)).astype(np.float32)
c = compile_model(graph, target, inputs={graph.inputs[0]: x}, simulate=simulate)
t2 = time.perf_counter()
out = tempfile.mkdtemp()
write_artifact(c, f"{out}/art")
t3 = time.perf_counter()
shutil.rmtree(out)
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
import onnxruntime as ort
opts = ort.SessionOptions(); opts.log_severity_level = 3
t4 = time.perf_counter(); ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"]); t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "stages": c.seconds, "write": t3 - t2, "total": t3 - t0, "peak": peak,
                  "ort": t5 - t4, "cores": len(c.mapping.cores), "chips": c.mapping.chips,
                  "host_ops": len(c.mapping.host)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="8-512")
    parser.add_argument("--target", default="loihi2")
    parser.add_argument("--simulate", action="store_true", help="also simulate one sample (T=4) for energy/timing")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "snnc-bench")
    args = parser.parse_args()
    path = cached_model(args.size, args.cache)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), args.target, "1" if args.simulate else "0"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    print(f"model        spikingformer-{args.size} (ImageNet, 224 px) -> {args.target}: {r['cores']} cores, "
          f"{r['chips']} chips, {r['host_ops']} host ops")
    print(f"import       {r['import']:.2f} s")
    for stage, seconds in r["stages"].items():
        print(f"{stage:<12} {seconds:.2f} s")
    print(f"write        {r['write']:.2f} s")
    print(f"total        {r['total']:.2f} s, import to artifact (onnxruntime session creation on the same "
          f"file: {r['ort']:.2f} s, {r['total'] / r['ort']:.0f}x)")
    print(f"peak memory  {r['peak'] / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
