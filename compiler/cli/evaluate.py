"""``snnc evaluate SNN.onnx --ann ANN.onnx --data DATA -T 1,2,4,8``: fidelity and energy
of a converted SNN at every T, against its ANN (see :mod:`snnc.conversion.evaluate`).

    snnc evaluate snn.onnx --ann ann.onnx --data test.npy --labels y.npy -T 1,2,4,6,8,10
    snnc evaluate snn.onnx --ann ann.onnx --data test.npz --format html -o eval.html
"""

from __future__ import annotations

import json
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
                   help="also report the smallest T whose agreement with the ANN reaches X (0..1)")
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
        from snnc.conversion.search import choose

        choice = choose([(None, ev)], args.target_agreement, args.agreement)
        if args.format == "table":
            text += "\n" + "\n".join(choice.lines(args.target_agreement))
        elif args.format == "json":
            data = ev.to_dict()
            data["target"] = {"agreement": args.target_agreement, "measure": args.agreement, "T": choice.row.T}
            text = json.dumps(data, indent=1)
    if args.output is None:
        print(text)
    else:
        write_text(args.output, text + ("\n" if not text.endswith("\n") else ""), args.force)
        print(f"wrote {args.output}")
    return 0
