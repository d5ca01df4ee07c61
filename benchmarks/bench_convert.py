"""Converted SNNs in the shape of ECMT Table 1, and evaluate's throughput against
onnxruntime running the ANN on the same data in the same run.

    python benchmarks/bench_convert.py [-T 1,2,4,6,8,10] [--samples 397] [--vit-s]

Models, trained here on scikit-learn's digits (deterministic): the CNN of
``examples/digits_ann.py`` (relu-if with soft and hard reset, and ecmt) and a ViT (8 px
images, 2 px patches, width 32, one block; ecmt, and sit: SIT's Spiking-Softmax, whose
cost is printed as the full-count ratio too). Each is converted with
``snnc.convert`` (p99) and evaluated on the held-out digits: ANN accuracy, then accuracy
and the synaptic energy ratio (ECMT's count, 45 nm) at each T. Then the samples/s of
``snnc.conversion.evaluate`` (ANN + SNN at max T, counting) and of onnxruntime running
the ANN alone, and their ratio.

``--vit-s``: ViT-S/16's architecture (224 px, 12 blocks, width 384) with random weights,
converted with ecmt on random images: the energy ratio per T and the agreement of the
output with the ANN's (cosine) on 4 images. Accuracy needs the trained weights, which
this machine cannot download.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _row(label: str, first: str, values) -> str:
    return f"{label:26}{first:>8}" + "".join(f"{v:8.3f}" if isinstance(v, float) else f"{v:>8}" for v in values)


def _table(name, model, calib, test, labels, steps, methods):
    import torch

    from snnc.conversion.convert import convert
    from snnc.conversion.evaluate import evaluate
    from snnc.conversion.torch_ann import export_ann
    from snnc.onnx.importer import import_onnx

    example = torch.from_numpy(calib[:1])
    ann = export_ann(model, example)
    feed = ann.graph.input[0].name
    print(f"\n{name}: {len(test)} test samples; accuracy %, energy ratio SNN/ANN (synaptic, 45 nm)")
    print(f"{'':26}{'ANN':>8}" + "".join(f"{'T=' + str(t):>8}" for t in steps))
    seconds = samples = 0.0
    for method, reset in methods:
        snn, _ = convert(ann, calib, method=method, reset=reset)
        start = time.perf_counter()
        ev = evaluate(import_onnx(snn), ann, {feed: test}, labels=labels, steps=steps, batch_size=64)
        seconds, samples = seconds + time.perf_counter() - start, samples + len(test)
        tag = method + (f", {reset} reset" if method == "relu-if" else "")
        if labels is not None:
            print(_row(f"accuracy ({tag})", f"{100 * ev.ann_accuracy:.2f}", [100 * r.accuracy for r in ev.rows]))
        else:
            print(_row(f"cosine to ANN ({tag})", "1", [r.cosine for r in ev.rows]))
        print(_row(f"energy ratio ({tag})", "1", [r.ratio_synaptic for r in ev.rows]))
        if method == "sit":     # the Spiking-Softmax is conversion overhead: in the full count only
            print(_row(f"energy ratio, full ({tag})", "1", [r.ratio_full for r in ev.rows]))
    return ann, feed, samples / seconds


def _throughput(ann, feed, test, snnc_rate):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(ann.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    for i in range(0, len(test), 64):
        sess.run(None, {feed: test[i:i + 64]})
    ort_rate = len(test) / (time.perf_counter() - start)
    print(f"throughput: snnc evaluate (ANN + SNN, counting) {snnc_rate:,.1f} samples/s; onnxruntime, ANN alone "
          f"{ort_rate:,.0f} samples/s; ratio {snnc_rate / ort_rate:.5f}")


def main() -> None:
    from snnc.conversion.evaluate import parse_steps

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-T", default="1,2,4,6,8,10")
    parser.add_argument("--samples", type=int, default=397)
    parser.add_argument("--vit-s", action="store_true", help="also ViT-S/16's architecture (slow)")
    args = parser.parse_args()
    steps = parse_steps(args.T)
    from snnc.models.digits_ann import digits_images, train_cnn, train_vit

    x, y = digits_images()
    calib, test, labels = x[:200], x[1400:1400 + args.samples], y[1400:1400 + args.samples]
    ann, feed, rate = _table("digits CNN", train_cnn(), calib, test, labels, steps,
                             [("relu-if", "soft"), ("relu-if", "hard"), ("ecmt", "soft")])
    _throughput(ann, feed, test, rate)
    ann, feed, rate = _table("digits ViT", train_vit(epochs=30), calib, test, labels, steps,
                             [("ecmt", "soft"), ("sit", "soft")])
    _throughput(ann, feed, test, rate)
    if args.vit_s:
        import torch

        from snnc.models.vit import vit

        torch.manual_seed(0)
        images = np.random.default_rng(0).random((6, 3, 224, 224)).astype(np.float32)
        _table("ViT-S/16 (random weights)", vit("s16", num_classes=10).eval(), images[:2], images[2:], None,
               steps, [("ecmt", "soft")])


if __name__ == "__main__":
    main()
