"""Import time and peak memory of a large model, against onnxruntime on the same file.

    python benchmarks/bench_import.py [--size 8-768] [--dataset imagenet] [--repeat 3]

Exports Spikingformer-<size> (random weights; 66 M parameters at 8-768 ImageNet) once to
a cache folder, then in fresh processes measures (a) ``snnc.onnx.importer.import_onnx``
and (b) ``onnxruntime.InferenceSession`` creation on the same file, best of ``--repeat``,
and the peak resident memory of each process. Prints the time ratio (goal <= 1.0) and
the importer's peak memory against 2x the weight bytes + 500 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
which, path = sys.argv[1], sys.argv[2]
if which == "snnc":
    from snnc.onnx.importer import import_onnx
    import onnx, numpy  # warm the imports outside the timed region, like onnxruntime's
    t = time.perf_counter()
    graph = import_onnx(path)
    elapsed = time.perf_counter() - t
    info = {"nodes": len(graph)}
else:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    t = time.perf_counter()
    ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    elapsed = time.perf_counter() - t
    info = {}
# VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec)
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": elapsed, "peak_bytes": peak, **info}))
"""


def measure(which: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(path)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def export(size: str, dataset: str, path: Path) -> int:
    import torch

    from snnc.models import spikingformer
    from snnc.onnx.export import export as snnc_export

    torch.manual_seed(0)
    model = spikingformer(size, dataset)
    cfg = model.config
    snnc_export(model, torch.rand(2, 1, cfg.in_channels, cfg.img_size, cfg.img_size), path, overwrite=True)
    return sum(p.numel() for p in model.parameters())


def cached_model(size: str, cache: Path) -> Path:
    """Spikingformer-<size> (ImageNet) as ONNX in ``cache``, exported by this script once."""
    path = cache / f"spikingformer-{size}-imagenet.onnx"
    if not path.exists():
        print(f"exporting {path.name} ...", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--size", size, "--repeat", "1",
                        "--cache", str(cache)], check=True, capture_output=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="8-768")
    parser.add_argument("--dataset", default="imagenet")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "snnc-bench")
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    path = args.cache / f"spikingformer-{args.size}-{args.dataset}.onnx"
    if not path.exists() and not args.export_only:
        print(f"exporting {path.name} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--export-only", "--size", args.size, "--dataset",
                        args.dataset, "--cache", str(args.cache)], check=True)
    if args.export_only:
        export(args.size, args.dataset, path)
        return
    weight_bytes = path.stat().st_size   # the file is its weights, give or take a few KB
    snnc = min((measure("snnc", path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    ort = min((measure("ort", path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
    budget = 2 * weight_bytes + 500e6
    print(f"model          spikingformer-{args.size} ({args.dataset}), {weight_bytes / 1e6:.0f} MB of weights, "
          f"{snnc['nodes']} IR nodes")
    print(f"snnc import    {snnc['seconds']:.3f} s   peak {snnc['peak_bytes'] / 1e6:.0f} MB")
    print(f"onnxruntime    {ort['seconds']:.3f} s   peak {ort['peak_bytes'] / 1e6:.0f} MB  (InferenceSession)")
    print(f"time ratio     {snnc['seconds'] / ort['seconds']:.2f}x onnxruntime (goal <= 1.0)")
    print(f"peak memory    {snnc['peak_bytes'] / budget:.2f}x the budget 2 x weights + 500 MB "
          f"({budget / 1e6:.0f} MB; goal <= 1.0)")


if __name__ == "__main__":
    main()
