"""``snnc opt MODEL -o OUT.onnx``: run passes and write the rewritten model as ONNX.

    snnc opt model.onnx -o model.opt.onnx                          # the default pipeline
    snnc opt model.onnx -o out.onnx --passes fold-bn,dce --verify-each --timings
    snnc opt model.onnx -o out.onnx --print-after fold-scale       # IR dumps to stdout

The output is ONNX in the snnc dialect (onnxruntime runs it; ``snnc show`` reads it),
or the IR as JSON when OUT ends in ``.json``.
"""

from __future__ import annotations

from pathlib import Path

from snnc.cli.common import add_model_argument, load_graph, write_text
from snnc.ir.errors import SnncError
from snnc.files import check_output


def add_parser(sub) -> None:
    from snnc.passes import DEFAULT_PIPELINE, PASSES

    names = ", ".join(sorted(PASSES))
    p = sub.add_parser("opt", help="rewrite a model with compiler passes (fold-bn, fold-scale, dce, ...)",
                       description="Import a model, run a pipeline of passes on its IR, print what each "
                                   "pass did, and write the result as ONNX in the snnc dialect.")
    add_model_argument(p)
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="the .onnx file to write (.json: the IR as JSON; .nir: NIR, with --dt)")
    p.add_argument("--passes", default=DEFAULT_PIPELINE,
                   help=f"comma-separated passes, in order (default: {DEFAULT_PIPELINE}); available: {names}")
    p.add_argument("--verify-each", action="store_true", help="re-run the IR verifier after every pass")
    p.add_argument("--print-after", action="append", default=[], metavar="PASS",
                   help="print the IR after this pass ('all' for every pass); repeatable")
    p.add_argument("--timings", action="store_true", help="print the time each pass took")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def run(args) -> int:
    from snnc.passes import PassLog, run_pipeline

    check_output(args.output, args.force)
    graph = load_graph(args.model, args.dt)
    logs: list[PassLog] = []
    result = run_pipeline(graph, args.passes, verify_each=args.verify_each, print_after=args.print_after,
                          timings=args.timings, logs=logs)
    for log in logs:
        for line in log.lines():
            print(line)
    if args.output.suffix == ".json":
        from snnc.ir.serialize import to_json

        write_text(args.output, to_json(result) + "\n", args.force)
    elif args.output.suffix == ".nir":
        from snnc.interop.nir import write_graph

        dt = args.dt or graph.meta.get("nir_dt")
        if dt is None:
            raise SnncError("writing NIR needs the time step its neurons stand for: pass --dt SECONDS")
        write_graph(result, args.output, dt, overwrite=args.force)
        print(f"NIR neurons written for dt = {dt:g} s")
    else:
        from snnc.onnx.ir_to_onnx import save_graph

        save_graph(result, args.output, overwrite=args.force)
    print(f"wrote {args.output} ({len(graph)} -> {len(result)} nodes)")
    return 0
