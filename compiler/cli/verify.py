"""``snnc verify MODEL --target loihi``: does what snnc deploys compute what it simulates?

    snnc verify model.onnx --target loihi --random-input [--samples 2] [--timesteps 4]
    snnc verify model.onnx --target loihi --input x.npy --json

The model goes through the default passes (fold-bn, fold-scale, clean-up) and is
quantised with the input as calibration. Four runs on the same input: onnxruntime on the
file, the float interpreter (the IR's semantics), the loihi interpreter (the quantised program in numpy, Lava's integer
arithmetic) and Lava itself (``Loihi2SimCfg(select_tag="fixed_pt")``). Per neuron layer
it prints whether the spikes are equal (onnxruntime vs float; Lava vs loihi) and how many
agree (float vs loihi, aligned for Lava's one-step synaptic delays); per output, the
largest difference and the top-1 agreement.

Exit 0 when the loihi interpreter and Lava agree bit for bit on every layer and output;
1 when they do not; 2 when the model or input is unusable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snnc.cli.common import add_model_argument, load_graph
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph
from snnc.verification import compare


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="compare onnxruntime, the float and loihi simulators and Lava",
                       description="Run onnxruntime, the float interpreter, the Loihi fixed-point interpreter and "
                                   "Lava on the same input and print their agreement per layer. Exit 0 only "
                                   "when the Loihi interpreter and Lava agree bit for bit.")
    add_model_argument(p)
    p.add_argument("--target", choices=["loihi"], default="loihi", help="the target to verify (loihi)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", type=Path, metavar="X.npy",
                     help="[T, N, ...] steps, or [N, ...] static samples repeated over --timesteps")
    src.add_argument("--random-input", action="store_true", help="random samples (the default)")
    p.add_argument("--samples", type=int, default=2, help="samples of --random-input (default 2)")
    p.add_argument("--timesteps", "-T", type=int, default=4, help="T for static or random inputs (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-input")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(run=run)


# -- inputs ----------------------------------------------------------------------------------
def _inputs(args, graph: Graph) -> dict[str, np.ndarray]:
    if len(graph.inputs) != 1:
        raise SnncError(f"snnc verify takes models with one input; this one takes {graph.inputs}")
    if args.samples < 1 or args.timesteps < 1:
        raise SnncError("--samples and --timesteps must be >= 1")
    name = graph.inputs[0]
    value = graph.values[name]
    lead = (args.timesteps, args.samples) if value.timed else (args.samples,)
    if args.input is None:
        rng = np.random.default_rng(args.seed)
        if value.kind.is_binary:
            return {name: (rng.random((*lead, *value.shape)) < 0.3).astype(np.float32)}
        return {name: rng.random((*lead, *value.shape), dtype=np.float32)}
    if not args.input.exists():
        raise SnncError(f"{args.input}: no such file")
    try:
        x = np.load(args.input, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise SnncError(f"{args.input}: not a numpy .npy array ({err})") from err
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise SnncError(f"{args.input}: holds no numbers")
    rank = len(value.shape)
    if tuple(x.shape[x.ndim - rank:]) != value.shape or x.ndim not in (rank + 1, rank + 2 if value.timed else -1):
        want = ("[T, N, " if value.timed else "[N, ") + ", ".join(map(str, value.shape)) + "]"
        raise SnncError(f"{args.input}: shape {list(x.shape)}; input {name!r} takes {want}")
    if value.timed and x.ndim == rank + 1:
        x = np.broadcast_to(x[None], (args.timesteps, *x.shape))
    return {name: np.ascontiguousarray(x, dtype=np.float32)}


# -- printing ----------------------------------------------------------------------------------
def _fmt(x, pct=False) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "equal" if x else "DIFFER"
    return f"{x:.1%}" if pct else f"{x:.3g}"


def text(comparison: dict) -> str:
    lines = [f"snnc verify {comparison['model']} --target loihi: input {comparison['input_shape']}, "
             f"Lava {comparison['lava']['runs']} run(s) in {comparison['lava']['seconds']:.2f} s, "
             f"loihi interpreter {comparison['loihi_seconds'] * 1e3:.1f} ms"]
    if not comparison["onnxruntime"]:
        lines.append("note: not an ONNX file: onnxruntime not run")
    lines.append(f"{'layer':<30} {'lag':>3} {'ort=float':>9} {'float~loihi':>11} {'lava=loihi':>10} "
                 f"{'rate float':>10} {'rate loihi':>10}")
    for r in comparison["layers"]:
        lava = "equal" if r["lava_equals_loihi"] else f"{r['lava_differences']} DIFF"
        lines.append(f"{r['layer']:<30} {r['lag']:>3} {_fmt(r['ort_equals_float']):>9} "
                     f"{_fmt(r['float_loihi_agreement'], True):>11} {lava:>10} {r['rate_float']:>10.3f} "
                     f"{r['rate_loihi']:>10.3f}")
    lines.append(f"{'output':<30} {'max|ort-float|':>14} {'max|float-loihi|':>16} {'max|loihi-lava|':>15} "
                 f"{'top1 float~loihi':>16} {'top1 loihi~lava':>15}")
    for o in comparison["outputs"]:
        lines.append(f"{o['output']:<30} {_fmt(o['max_error_ort_float']):>14} {_fmt(o['max_error_float_loihi']):>16} "
                     f"{_fmt(o['max_error_loihi_lava']):>15} {_fmt(o['top1_float_loihi'], True):>16} "
                     f"{_fmt(o['top1_loihi_lava'], True):>15}")
    in_run = {h["node"]: h for h in comparison.get("host_in_run", [])}
    for host in comparison["quantization"].get("host", []):
        if host["node"] not in in_run:
            lines.append(f"host: {host['node']}: {host['reason']}")
    for h in in_run.values():
        if h["in_values"] or h["out_values"]:
            lines.append(f"host in the Lava run: {h['node']} ({h['op']}): {h['reason']}; per step and sample "
                     f"{h['in_values']} values ({h['in_bits']} bits) from the chip, "
                         f"{h['out_values']} ({h['out_bits']} bits) to it")
    if in_run:
        lines.append(f"host<->chip traffic per step and sample: {sum(h['in_bits'] for h in in_run.values())} bits "
                     f"to the host, {sum(h['out_bits'] for h in in_run.values())} bits to the chip "
                     f"({len(in_run)} host nodes in the run; those not listed move no data to or from the chip)")
    if not comparison["layers"]:
        lines.append("note: no neuron layer runs on the chip")
    lines.append("verdict: the loihi interpreter and Lava agree bit for bit" if comparison["bit_exact"]
                 else "verdict: the loihi interpreter and Lava DIFFER")
    return "\n".join(lines)


def run(args) -> int:
    graph = load_graph(args.model, args.dt)
    comparison = compare(args.model, graph, _inputs(args, graph))
    print(json.dumps(comparison, indent=2) if args.json else text(comparison))
    return 0 if comparison["bit_exact"] else 1
