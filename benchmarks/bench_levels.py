"""``snnc evaluate --target-agreement X``'s search, on the digits CNN and ViT: the smallest T
at the converted levels, then the levels per multi-threshold layer, with the agreement, the
synaptic energy ratio (ECMT's count, 45 nm) and the graded-spike payload before and after.

    python benchmarks/bench_levels.py [--target 0.99] [-T 16] [--samples 397] [--no-vit]

Models trained here on scikit-learn's digits (deterministic), converted with ``ecmt``
(n = 8, p99) on 200 training digits, evaluated on the held-out ones. See
``snnc.conversion.level_search`` for the order and why the energy barely moves.
"""

from __future__ import annotations

import argparse
import time


def _search(name, model, calib, test, target, max_t):
    import torch

    from snnc.conversion.convert import convert
    from snnc.conversion.evaluate import evaluate
    from snnc.conversion.target import reach_target
    from snnc.conversion.torch_ann import export_ann
    from snnc.ir.errors import SnncError
    from snnc.onnx.importer import import_onnx

    ann = export_ann(model, torch.from_numpy(calib[:1]))
    snn = import_onnx(convert(ann, calib, method="ecmt")[0])
    data = {ann.graph.input[0].name: test}
    start = time.perf_counter()
    ev = evaluate(snn, ann, data, steps=range(1, max_t + 1))
    try:
        result = reach_target(snn, ann, data, target, ev)       # what snnc evaluate --target-agreement runs
    except SnncError as err:
        print(f"\n{name}: {err}")
        return
    T, c = result.choice.row.T, result.tuned
    seconds = time.perf_counter() - start
    print(f"\n{name}: {len(test)} held-out digits, target agreement {target:g}: T = {T} "
          f"({len(c.trials)} trial evaluations, {seconds:.1f} s in all)")
    for layer, n in c.levels.items():       # named by their --thresholds keys
        print(f"  {c.keys.get(layer, layer):34} n = {c.start[layer]} -> {n}")
    for label, row, bits in (("before", c.before, c.payload_before), ("after", c.after, c.payload_after)):
        print(f"  {label:6}  agreement {row.agreement:.4f}  energy ratio (synaptic) {row.ratio_synaptic:.4f}  "
              f"energy {row.energy_synaptic_pj / 1e6:.4g} uJ  payload {bits:,.0f} bits/sample")
    print(f"  energy after / before {c.after.energy_synaptic_pj / c.before.energy_synaptic_pj:.4f}; "
          f"payload after / before {c.payload_after / c.payload_before:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("-T", type=int, default=16)
    parser.add_argument("--samples", type=int, default=397)
    parser.add_argument("--no-vit", action="store_true")
    args = parser.parse_args()
    from snnc.models.digits_ann import digits_images, train_cnn, train_vit

    x, _ = digits_images()
    calib, test = x[:200], x[1400:1400 + args.samples]
    _search("digits CNN (ecmt)", train_cnn(), calib, test, args.target, args.T)
    if not args.no_vit:
        _search("digits ViT (ecmt)", train_vit(), calib, test, args.target, args.T)


if __name__ == "__main__":
    main()
