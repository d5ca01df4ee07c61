"""``snnc show MODEL``: print the spiking IR (text, or JSON that loads back)."""

from __future__ import annotations

from pathlib import Path

from snnc.cli.common import add_model_argument, load_graph, write_text
from snnc.files import check_output


def add_parser(sub) -> None:
    p = sub.add_parser("show", help="print the spiking IR of a model",
                       description="Import a model and print its spiking IR: one line per node with "
                                   "its op, attributes, parameters, output shape and spike kind.")
    add_model_argument(p)
    p.add_argument("--json", action="store_true", help="print the IR as JSON (loads back with snnc.ir.serialize)")
    p.add_argument("--source", action="store_true", help="note the ONNX node each IR node came from")
    p.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.output:
        check_output(args.output, args.force)
    graph = load_graph(args.model, args.dt)
    if args.json:
        from snnc.ir.serialize import to_json

        text = to_json(graph)
    else:
        from snnc.ir.printer import graph_str

        text = graph_str(graph, source=args.source)
    if args.output:
        write_text(args.output, text + "\n", args.force)
    else:
        print(text)
    return 0
