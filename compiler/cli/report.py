"""``snnc report MODEL``: the energy / op-count report of a simulated run.

    snnc report model.onnx                                   # a table, one random sample
    snnc report model.onnx --digits --format html -o report.html
    snnc report model.onnx --format json --energy-model loihi1 --integer-as acs

Simulates the model (same input options as ``snnc simulate``), then prices the counts
with an energy model (``45nm`` by default, ``loihi1``, or a JSON/TOML file) by both
methods (measured counts; Spikingformer Eq. 18-19) against the ANN of the same
architecture (E_MAC × FLOPs at T = 1).
"""

from __future__ import annotations

from pathlib import Path

from snnc.cli.common import add_model_argument, write_text
from snnc.cli.simulate import add_input_arguments, run_simulation
from snnc.files import check_output


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="energy and op-count report (table, JSON, CSV, HTML)",
                       description="Simulate a model and report, per layer and in total, firing rates, "
                                   "ACs, MACs and energy (measured and theoretical) against the ANN "
                                   "equivalent.")
    add_model_argument(p)
    add_input_arguments(p)
    p.add_argument("--format", choices=["table", "json", "csv", "html"], default="table",
                   help="output format (default table)")
    p.add_argument("--energy-model", default="45nm", metavar="NAME|FILE",
                   help="45nm (Horowitz 2014, default), loihi1 (Davies 2018), or a .json/.toml file")
    p.add_argument("--integer-as", choices=["macs", "acs"], default="macs",
                   help="charge count(k) inputs (integer-float layers) as MACs (default) or k ACs "
                        "(Spikingformer App. F)")
    p.add_argument("-o", "--output", type=Path, help="write the report to this file instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def run(args) -> int:
    from snnc.backends.energy import load_model
    from snnc.report import build_report, render

    if args.output is not None:
        check_output(args.output, args.force)
    model = load_model(args.energy_model)          # fail on a bad model before simulating
    graph, result, _, _, _ = run_simulation(args, integer_as=args.integer_as)
    text = render(build_report(graph, result, model), args.format)
    if args.output is not None:
        write_text(args.output, text if text.endswith("\n") else text + "\n", args.force)
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0
