"""``snnc evaluate SNN.onnx --ann ANN.onnx --data DATA -T 1,2,4,8``: fidelity and energy
of a converted SNN at every T, against its ANN (see :mod:`snnc.conversion.evaluate`).

    snnc evaluate snn.onnx --ann ann.onnx --data test.npy --labels y.npy -T 1,2,4,6,8,10
    snnc evaluate snn.onnx --ann ann.onnx --data test.npz --format html -o eval.html
    snnc evaluate snn.onnx --ann ann.onnx --data val.npy -T 16 --target-agreement 0.99 --write-snn tuned.onnx
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from snnc.cli.common import add_dt_argument, load_graph, load_npy, write_text
from snnc.files import check_output

FORMATS = ("table", "json", "csv", "html")


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy, agreement with the ANN and energy of a converted SNN per T",
                       description="Run a converted SNN (simulator) and its ANN (onnxruntime) on a data set and "
                                   "report, per T: accuracy, agreement, firing rate, energy and SNN/ANN ratio.")
    p.add_argument("model", type=Path, help="the SNN (.onnx from snnc convert, or IR JSON)")
    add_dt_argument(p)
    p.add_argument("--ann", type=Path, required=True, help="the ANN it was converted from (.onnx)")
    p.add_argument("--data", type=Path, required=True, help=".npy (one input) or .npz (one array per input)")
    p.add_argument("--labels", type=Path, help=".npy of integer class labels, one per sample")
    p.add_argument("-T", "--timesteps", default="1,2,4,6,8,10", help="time steps to report (default: 1,2,4,6,8,10)")
    p.add_argument("--batch-size", type=int, default=64, help="samples per batch (default: 64)")
    p.add_argument("--energy-model", default="45nm", help="45nm (default), loihi1, or a JSON/TOML file")
    p.add_argument("--engine", default="numpy", choices=("numpy", "torch"), help="simulator engine")
    p.add_argument("--workers", type=int, default=1, help="shard the data over N Ray workers (extra 'distributed')")
    p.add_argument("--address", help="join an existing Ray cluster (ray://host:port or 'auto')")
    p.add_argument("--target-agreement", type=float, metavar="X",
                   help="also report the smallest T whose agreement with the ANN reaches X (0..1), then lower "
                        "each multi-threshold layer's levels while it stays >= X")
    p.add_argument("--tune-levels", action=argparse.BooleanOptionalAction, default=True,
                   help="with --target-agreement: search per-layer levels at the chosen T (default: on)")
    p.add_argument("--write-snn", type=Path, metavar="FILE",
                   help="with --target-agreement: write the SNN with the chosen levels here (.onnx)")
    p.add_argument("--agreement", default="top1", choices=("top1", "cosine"),
                   help="what --target-agreement measures: top-1 match (classifiers, default) or cosine "
                        "similarity (embeddings)")
    p.add_argument("--format", default="table", choices=FORMATS, help="output format (default: table)")
    p.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def run(args) -> int:
    from snnc.conversion import eval_table
    from snnc.conversion.data import input_specs, load_dataset
    from snnc.conversion.evaluate import evaluate, parse_steps
    from snnc.ir.errors import SnncError
    from snnc.onnx.io import load_model

    if args.output is not None:
        check_output(args.output, args.force)
    if args.write_snn is not None:
        if args.target_agreement is None:
            raise SnncError("--write-snn writes the SNN --target-agreement tuned; give --target-agreement X")
        check_output(args.write_snn, args.force)
    if args.workers < 1:
        raise SnncError(f"--workers must be >= 1, got {args.workers}")
    steps = parse_steps(args.timesteps)
    if args.target_agreement is not None:
        if not 0 < args.target_agreement <= 1:
            raise SnncError(f"--target-agreement must be in (0, 1], got {args.target_agreement}")
        steps = list(range(1, steps[-1] + 1))        # every T up to the largest: one run gives them all
    snn = load_graph(args.model, args.dt)
    ann = load_model(args.ann)
    data = load_dataset(args.data, input_specs(ann))
    labels = load_npy(args.labels) if args.labels else None
    ev = evaluate(snn, ann, data, labels=labels, steps=steps, batch_size=args.batch_size,
                  energy_model=args.energy_model, engine=args.engine, workers=args.workers,
                  address=args.address, progress=True)
    title = f"snnc evaluate: {args.model.name} vs {args.ann.name} on {args.data.name}"
    text = {"table": lambda: eval_table.text(ev, title), "json": lambda: json.dumps(ev.to_dict(), indent=1),
            "csv": lambda: eval_table.to_csv(ev), "html": lambda: eval_table.to_html(ev, title)}[args.format]()
    if args.target_agreement is not None:
        text = _target(args, snn, ann, data, labels, ev, text)
    if args.output is None:
        print(text)
    else:
        write_text(args.output, text + ("\n" if not text.endswith("\n") else ""), args.force)
        print(f"wrote {args.output}")
    return 0


def _target(args, snn, ann, data, labels, ev, text: str) -> str:
    """The smallest T reaching the target, then (``--tune-levels``) the per-layer levels
    at that T (:mod:`snnc.conversion.level_search`); the tuned SNN to ``--write-snn``."""
    from snnc.conversion.search import choose

    choice = choose([(None, ev)], args.target_agreement, args.agreement)
    tuned = None
    if args.tune_levels:
        from snnc.conversion.level_search import tune_levels

        graph, tuned = tune_levels(snn, ann, data, args.target_agreement, choice.row.T, ev, measure=args.agreement,
                                   labels=labels, batch_size=args.batch_size, energy_model=args.energy_model,
                                   engine=args.engine, workers=args.workers, address=args.address)
    if args.write_snn is not None:
        from snnc.onnx.io import save_model
        from snnc.onnx.ir_to_onnx import graph_to_onnx

        check_output(args.write_snn, args.force)
        save_model(graph_to_onnx(graph if tuned is not None else snn), args.write_snn)
        print(f"wrote {args.write_snn}", file=sys.stderr)     # stdout may be the JSON report
    if args.format == "table":
        text += "\n" + "\n".join(choice.lines(args.target_agreement) + (tuned.lines(args.agreement) if tuned else []))
    elif args.format == "json":
        report = json.loads(text)
        report["target"] = {"agreement": args.target_agreement, "measure": args.agreement, "T": choice.row.T}
        if tuned is not None:
            report["target"].update(tuned.to_dict(args.agreement))
        text = json.dumps(report, indent=1)
    return text
