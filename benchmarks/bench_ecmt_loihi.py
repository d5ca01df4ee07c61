"""ECMT-converted digits networks on Loihi 2: what runs on chip, what stays on the host.

    python benchmarks/bench_ecmt_loihi.py [--epochs 3] [--samples 8] [--verify]

The digits CNN and ViT of :mod:`snnc.models.digits_ann` (trained here, seconds), converted
with ``--method ecmt`` (p99), compiled for loihi2 on the first ``--samples`` digits
(``snnc.deploy.compile_model``, as ``snnc compile --digits``). Printed per model: chip
layers and the multi-threshold neurons among them, cores, the host ops by kind, the host's
dense MACs per sample against the whole graph's (everything on the host: what snnc did
before the multi-threshold neuron had a chip lowering), and with ``--verify`` what
``snnc verify`` checks (Lava equal to the interpreter bit for bit; 4 digits, T = 4), the
top-1 agreement of the float and Loihi logits and the level agreement of each
multi-threshold layer.
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


def _one(name: str, model, x: np.ndarray, samples: int, verify: bool) -> None:
    import torch

    from snnc.backends.sim import digits_inputs
    from snnc.conversion.convert import convert
    from snnc.conversion.torch_ann import export_ann
    from snnc.deploy import compile_model
    from snnc.onnx.importer import import_onnx

    ann = export_ann(model, torch.from_numpy(x[:1]))
    snn, _ = convert(ann, x[:200], method="ecmt")
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
    print(f"\n{name} (ecmt, T = {steps}; compiled in {seconds:.1f} s)")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of each ANN (default 3)")
    parser.add_argument("--samples", type=int, default=8, help="digits compiled and simulated (default 8)")
    parser.add_argument("--verify", action="store_true", help="also run snnc verify's comparison (Lava)")
    args = parser.parse_args()

    from snnc.models.digits_ann import digits_images, train_cnn, train_vit

    x, _ = digits_images()
    _one("digits CNN", train_cnn(epochs=args.epochs), x, args.samples, args.verify)
    _one("digits ViT", train_vit(epochs=args.epochs), x, args.samples, args.verify)


if __name__ == "__main__":
    main()
