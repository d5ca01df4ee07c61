"""``snnc evaluate SNN.onnx --ann ANN.onnx --data DATA -T 1,2,4,8``: fidelity and energy
of a converted SNN at every T, against its ANN (see :mod:`snnc.conversion.evaluate`).

    snnc evaluate snn.onnx --ann ann.onnx --data test.npy --labels y.npy -T 1,2,4,6,8,10
    snnc evaluate snn.onnx --ann ann.onnx --data test.npz --format html -o eval.html
    snnc evaluate snn.onnx --ann ann.onnx --data val.npy -T 16 --target-agreement 0.99 --write-snn tuned.onnx
    snnc evaluate snn.onnx --ann ann.onnx --data val.npy -T 16 --target-agreement 0.99 --write-levels levels.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from snnc.cli.common import (add_dt_argument, check_levels_file, load_graph, load_npy, write_target_outputs,
                             write_text)
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
    p.add_argument("--write-levels", type=Path, metavar="FILE",
                   help="with --target-agreement: write the chosen levels and thresholds per layer as a JSON "
                        "file for snnc convert --thresholds (keys: the ANN's layer names)")
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
    for flag, path in (("--write-snn", args.write_snn), ("--write-levels", args.write_levels)):
        if path is not None:
            if args.target_agreement is None:
                raise SnncError(f"{flag} writes what --target-agreement chose; give --target-agreement X")
            check_output(path, args.force)
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
    if args.write_levels is not None:
        check_levels_file(snn, ann)                  # before the run: a file it cannot write is refused now
    ev = evaluate(snn, ann, data, labels=labels, steps=steps, batch_size=args.batch_size,
                  energy_model=args.energy_model, engine=args.engine, workers=args.workers,
                  address=args.address, progress=True)
    result = _target(args, snn, ann, data, labels, ev) if args.target_agreement is not None else None
    target = None if result is None else result.to_dict()
    title = f"snnc evaluate: {args.model.name} vs {args.ann.name} on {args.data.name}"
    if args.format == "table":
        text = eval_table.text(ev, title) + ("\n" + "\n".join(result.lines()) if result else "")
    elif args.format == "json":
        text = json.dumps({**ev.to_dict(), **({"target": target} if target else {})}, indent=1)
    elif args.format == "csv":
        text = eval_table.to_csv(ev) + (eval_table.target_csv(target) if target else "")
    else:
        text = eval_table.to_html(ev, title, target)
    if args.output is None:
        print(text)
    else:
        write_text(args.output, text + ("\n" if not text.endswith("\n") else ""), args.force)
        print(f"wrote {args.output}")
    return 0


def _target(args, snn, ann, data, labels, ev):
    """The smallest T reaching the target, then (``--tune-levels``) the per-layer levels
    at that T (:mod:`snnc.conversion.target`); the SNN to ``--write-snn``, its neurons as a
    ``--thresholds`` file to ``--write-levels``."""
    from snnc.conversion.target import reach_target

    result = reach_target(snn, ann, data, args.target_agreement, ev, measure=args.agreement, tune=args.tune_levels,
                          labels=labels, batch_size=args.batch_size, energy_model=args.energy_model,
                          engine=args.engine, workers=args.workers, address=args.address)
    write_target_outputs(result, levels=args.write_levels, snn=args.write_snn, force=args.force)
    return result
