"""ECMT-converted digits networks on Loihi 2: what runs on chip, what stays on the host.

    python benchmarks/bench_ecmt_loihi.py [--epochs 3] [--samples 8] [--verify] [--sit] [--fidelity 32 [--off RULE]]

The digits CNN and ViT of :mod:`snnc.models.digits_ann` (trained here, seconds), converted
with ``--method ecmt`` (p99), compiled for loihi2 on the first ``--samples`` digits
(``snnc.deploy.compile_model``, as ``snnc compile --digits``). Printed per model: chip
layers and the multi-threshold neurons among them, cores, the host ops by kind, the host's
dense MACs per sample against the whole graph's (everything on the host: what snnc did
before the multi-threshold neuron had a chip lowering), and with ``--verify`` what
``snnc verify`` checks (Lava equal to the interpreter bit for bit; 4 digits, T = 4), the
top-1 agreement of the float and Loihi logits and the level agreement of each
multi-threshold layer. ``--fidelity N`` prints where the Loihi program leaves the float
graph (``snnc.verification.fidelity`` on N digits, T = 4, the simulator's loihi numerics,
every value cut at its lag): per value in program order, the relative error of its running
mean at the last step and each multi-threshold layer's level agreement, then the top-1
agreement of the logits per step and of their running mean; ``--off time-origin`` (or
another rule of :data:`OPTIONS`) quantises with that rule off, for the before figures.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np


def _all_host_macs(graph, steps: int) -> int:
    """Dense MACs per sample of every node of the float graph (all of it on the host)."""
    from snnc.ir.registry import get

    total = 0
    for node in graph.nodes:
        if node.op == "constant":
            continue
        ins, outs = graph.ins(node), graph.outs(node)
        total += int(get(node.op).flops(node, ins, outs)) * (steps if outs[0].timed else 1)
    return total


#: rules ``--off`` can turn off -> the quantiser option that does
OPTIONS = {"time-origin": "time_origin", "lag-align": "lag_align", "reader-exponent": "reader_exp",
           "fine-thresholds": "fine_thresholds"}
#: ops that move values without computing (left out of the fidelity listing)
_MOVES = ("reshape", "transpose", "gather", "concat", "constant", "loihi_dequant")


def _fidelity(graph, samples: int, off: list[str]) -> None:
    from snnc.backends.sim import digits_inputs, shape_inputs
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline
    from snnc.verification import fidelity

    feeds = shape_inputs(graph, digits_inputs(graph, samples)[0], 4)
    folded = run_pipeline(graph, DEFAULT_PIPELINE)
    options = {"calibration": feeds, **{OPTIONS[rule]: False for rule in off}}
    q = run_pipeline(folded, "loihi-quantize", options={"loihi-quantize": options})
    r = fidelity(folded, q, feeds)
    print(f"  fidelity ({samples} digits, T=4{', off: ' + ', '.join(off) if off else ''}): float vs loihi, "
          "relative error of each value's running mean at the last step")
    for row in r["values"]:
        if row["op"] in _MOVES:
            continue
        levels = "" if row["level_agreement"] is None else f"   levels agree {row['level_agreement']:.1%}"
        print(f"    {row['value'][:44]:44s} {row['op']:15s} lag {row['lag']:2d}  {row['mean_error']:.3f}{levels}")
    for out in r["outputs"]:
        print(f"  top-1 float~loihi ({samples} digits): per step {out['top1_per_step']:.1%}, "
              f"running mean at the last step {out['top1_mean']:.1%}")


def _one(name: str, model, x: np.ndarray, samples: int, verify: bool, fidelity: int = 0,
         off: list[str] | None = None, method: str = "ecmt") -> None:
    import torch

    from snnc.backends.sim import digits_inputs
    from snnc.conversion.convert import convert
    from snnc.conversion.torch_ann import export_ann
    from snnc.deploy import compile_model
    from snnc.onnx.importer import import_onnx

    ann = export_ann(model, torch.from_numpy(x[:1]))
    snn, _ = convert(ann, x[:200], method=method)
    graph = import_onnx(snn)
    inputs, _ = digits_inputs(graph, samples)
    start = time.perf_counter()
    c = compile_model(graph, "loihi2", inputs=inputs, inputs_described=f"{samples} digits")
    seconds = time.perf_counter() - start
    dep = c.report["deployment"]
    steps = c.report.get("timesteps") or 1
    mts = [n.name for n in c.program.nodes if n.op == "loihi_mt"]
    host_mt = [n.name for n in c.program.nodes if n.op == "multi_threshold"]
    kinds = collections.Counter(h["op"] for h in dep["host"])
    print(f"\n{name} ({method}, T = {steps}; compiled in {seconds:.1f} s)")
    print(f"  chip layers             {len(dep['layers'])} on {dep['cores']} core(s)")
    print(f"  multi-threshold on chip {len(mts)} of {len(mts) + len(host_mt)}")
    print(f"  host ops                {sum(kinds.values())}: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print(f"  host MACs per sample    {dep['host_macs_per_sample']:,} (all on the host: "
          f"{_all_host_macs(c.graph, steps):,})")
    for line in dep["quantisation"][1:]:
        if not line.startswith("  note"):
            print(f"    {line}")
    if verify:
        from pathlib import Path

        from snnc.verification import compare

        from snnc.backends.sim import shape_inputs

        feeds = shape_inputs(graph, digits_inputs(graph, 4)[0], 4)
        report = compare(Path(name), graph, feeds)          # not an .onnx path: onnxruntime not run
        out = report["outputs"][0]
        print(f"  verify (4 digits, T=4)  Lava == interpreter: {report['bit_exact']}; top-1 float~loihi "
              f"{out['top1_float_loihi']:.1%}; level agreement per neuron layer "
              + ", ".join(f"{r['float_loihi_agreement']:.0%}" for r in report["layers"]))
    if fidelity:
        _fidelity(graph, fidelity, off or [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of each ANN (default 3)")
    parser.add_argument("--samples", type=int, default=8, help="digits compiled and simulated (default 8)")
    parser.add_argument("--verify", action="store_true", help="also run snnc verify's comparison (Lava)")
    parser.add_argument("--sit", action="store_true", help="also the ViT converted with --method sit "
                        "(ECMT with SIT's Spiking-Softmax)")
    parser.add_argument("--fidelity", type=int, default=0, metavar="N",
                        help="float vs loihi per value on N digits (e.g. 32; simulator only)")
    parser.add_argument("--off", action="append", default=[], choices=sorted(OPTIONS),
                        help="quantise with this rule off (with --fidelity; repeatable)")
    args = parser.parse_args()

    from snnc.models.digits_ann import digits_images, train_cnn, train_vit

    x, _ = digits_images()
    _one("digits CNN", train_cnn(epochs=args.epochs), x, args.samples, args.verify, args.fidelity, args.off)
    vit = train_vit(epochs=args.epochs)
    _one("digits ViT", vit, x, args.samples, args.verify, args.fidelity, args.off)
    if args.sit:
        _one("digits ViT", vit, x, args.samples, args.verify, args.fidelity, args.off, method="sit")


if __name__ == "__main__":
    main()
