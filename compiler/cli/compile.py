"""``snnc compile MODEL --target loihi -o OUTDIR``: check, passes, quantise, map, time, write.

    snnc compile model.onnx --target loihi2 -o out/model [--input x.npy] [--force]
"""

from __future__ import annotations

from pathlib import Path

from snnc.cli.common import add_model_argument, load_graph
from snnc.ir.errors import SnncError


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="compile a model for Loihi: mapping, timing, deployable artifact",
                       description="Run the spike check and the default passes, quantise to Loihi numerics, map "
                                   "every layer onto cores under the target's table (splitting layers that do "
                                   "not fit), simulate the mapped program, and write a self-describing artifact "
                                   "folder (program, mapping, report.json/html, netx .net when possible).")
    add_model_argument(p)
    p.add_argument("--target", default="loihi", help="loihi1, loihi2, or loihi (= loihi2; the default)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the artifact folder to write")
    p.add_argument("--force", action="store_true",
                   help="replace an existing artifact folder (only one snnc wrote: its manifest lists every file)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", metavar="FILE.npy", type=Path,
                     help="calibration/activity input: [N, ...] static images or [T, N, ...] events "
                          "(default: one random sample)")
    src.add_argument("--digits", action="store_true", help="scikit-learn's bundled digits, resized to the input")
    p.add_argument("--samples", type=int, default=None, help="samples of --digits (default 16) or random input (1)")
    p.add_argument("--timesteps", "-T", type=int, help="T for static inputs (default: the model's, else 4)")
    p.add_argument("--passes", default=None, help="the pass pipeline (default: snnc's default pipeline)")
    p.add_argument("--energy-model", default="45nm", help="45nm (default), loihi1, or a JSON/TOML file")
    p.add_argument("--no-simulate", action="store_true",
                   help="skip the simulation: no measured energy or timing, mapping and loads only")
    p.add_argument("--strict", action="store_true", help="fail when snnc check finds violations")
    p.set_defaults(run=run)


def run(args) -> int:
    from snnc.backends.sim import digits_inputs, random_inputs
    from snnc.cli.common import load_npy
    from snnc.deploy import compile_model, write_artifact
    from snnc.deploy.artifact import check_artifact_output
    from snnc.deploy.summary import summary
    from snnc.passes import DEFAULT_PIPELINE

    check_artifact_output(args.output, args.force)
    if args.samples is not None and args.samples < 1:
        raise SnncError(f"--samples must be >= 1, got {args.samples}")
    graph = load_graph(args.model, args.dt)
    if args.input is not None:
        inputs, described = load_npy(args.input), str(args.input)
    elif args.digits:
        inputs, labels = digits_inputs(graph, args.samples or 16)
        described = f"{len(labels)} digits (scikit-learn)"
    else:
        inputs = random_inputs(graph, args.samples or 1)
        described = f"{args.samples or 1} random sample(s) (uniform [0, 1))"
    c = compile_model(graph, args.target, inputs=inputs, inputs_described=described, timesteps=args.timesteps,
                      passes=args.passes or DEFAULT_PIPELINE, simulate=not args.no_simulate,
                      energy_model=args.energy_model, strict=args.strict)
    files = write_artifact(c, args.output, force=args.force, source=str(args.model))
    print(summary(c, args.output, files))
    return 0
