"""Converted SNNs in the shape of ECMT Table 1, and evaluate's throughput against
onnxruntime running the ANN on the same data in the same run.

    python benchmarks/bench_convert.py [-T 1,2,4,6,8,10] [--samples 397]

For each model: train it here on scikit-learn's digits (deterministic), convert it
(``snnc.convert``, relu-if, p99, soft and hard reset), evaluate on the held-out digits
and print ANN accuracy, then accuracy and the synaptic energy ratio (ECMT's count, 45 nm)
at each T; then samples/s of ``snnc.conversion.evaluate`` (ANN + SNN at max T, counting)
and of onnxruntime running the ANN alone, and their ratio.

Models: the digits CNN of ``examples/digits_ann.py``. (The ECMT method for ViTs — GELU,
softmax, LayerNorm, q·kᵀ — lands with the converted-SNN primitives.)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _digits_cnn():
    spec = importlib.util.spec_from_file_location("digits_ann", ROOT / "examples" / "digits_ann.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model, x, y = mod.train()
    return "digits CNN", model, x, y


def main() -> None:
    import onnxruntime as ort
    import torch

    from snnc.conversion.convert import convert
    from snnc.conversion.evaluate import evaluate, parse_steps
    from snnc.onnx.importer import import_onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-T", default="1,2,4,6,8,10")
    parser.add_argument("--samples", type=int, default=397)
    args = parser.parse_args()
    steps = parse_steps(args.T)
    for name, model, x, y in [_digits_cnn()]:
        test, labels = x[1400:1400 + args.samples], y[1400:1400 + args.samples]
        example = torch.from_numpy(x[:1])
        print(f"\n{name}: {len(test)} test samples; ECMT Table 1 shape (accuracy %, energy ratio SNN/ANN, 45 nm)")
        print(f"{'':24}{'ANN':>8}" + "".join(f"{'T=' + str(t):>8}" for t in steps))
        ann_proto = None
        for reset in ("soft", "hard"):
            snn, _ = convert(model, x[:200], example=example, reset=reset)
            if ann_proto is None:
                from snnc.conversion.torch_ann import export_ann
                ann_proto = export_ann(model, example)
            start = time.perf_counter()
            ev = evaluate(import_onnx(snn), ann_proto, {ann_proto.graph.input[0].name: test}, labels=labels,
                          steps=steps, batch_size=64)
            seconds = time.perf_counter() - start
            print(f"{'accuracy, ' + reset + ' reset':24}{100 * ev.ann_accuracy:8.2f}"
                  + "".join(f"{100 * r.accuracy:8.2f}" for r in ev.rows))
            print(f"{'energy ratio, ' + reset:24}{'1':>8}" + "".join(f"{r.ratio_synaptic:8.3f}" for r in ev.rows))
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(ann_proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        feed = ann_proto.graph.input[0].name
        start = time.perf_counter()
        for i in range(0, len(test), 64):
            sess.run(None, {feed: test[i:i + 64]})
        ort_seconds = time.perf_counter() - start
        print(f"throughput: snnc evaluate (ANN + SNN at T={steps[-1]}, counting) {len(test) / seconds:,.0f} samples/s; "
              f"onnxruntime ANN alone {len(test) / ort_seconds:,.0f} samples/s; ratio {ort_seconds / seconds:.4f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
