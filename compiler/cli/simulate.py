"""``snnc simulate MODEL``: run the reference simulator and save its outputs.

    snnc simulate model.onnx --input x.npy [--timesteps 4] [-o out.npz]
    snnc simulate model.onnx --random-input --samples 8
    snnc simulate model.onnx --digits --samples 32 --numerics float --engine torch

Inputs: ``--input [NAME=]FILE.npy`` (``[N, ...]`` static images repeated over T, or
``[T, N, ...]`` events; one sample may drop N), ``--random-input`` (uniform [0, 1)), or
``--digits`` (scikit-learn's bundled 8x8 digits, resized to the model's input). With no
input option, one random sample. The input helpers here are shared with ``snnc report``.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np

from snnc.cli.common import add_model_argument, load_graph, load_npy
from snnc.files import atomic_write, check_output
from snnc.ir.errors import SnncError


def add_input_arguments(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", action="append", metavar="[NAME=]FILE.npy",
                     help="an .npy array: [N, ...] static images (repeated over T) or [T, N, ...] events; "
                          "NAME= picks the graph input (repeatable)")
    src.add_argument("--random-input", action="store_true", help="uniform [0, 1) images (the default)")
    src.add_argument("--digits", action="store_true",
                     help="scikit-learn's bundled digits (8x8, resized to the model's input)")
    p.add_argument("--samples", type=int, default=None,
                   help="samples for --random-input (default 1) and --digits (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-input")
    p.add_argument("--timesteps", "-T", type=int, help="T for static inputs (default: the model's, else 4)")
    p.add_argument("--batch-size", type=int, help="samples per batch (default: what fits in 1 GiB)")
    p.add_argument("--engine", choices=["numpy", "torch"], default="numpy",
                   help="numpy (the reference, default) or torch (faster convolutions)")
    p.add_argument("--numerics", choices=["float", "loihi"], default="float",
                   help="float (IR semantics, default) or loihi (fixed point, via snnc.backends.loihi)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)")


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="run the reference simulator on a model",
                       description="Run a model on the reference simulator (numpy, float32 IR semantics, "
                                   "or Loihi fixed point) and save its outputs; prints spike and op counts.")
    add_model_argument(p)
    add_input_arguments(p)
    p.add_argument("-o", "--output", type=Path, help="write the outputs (and --digits labels) to this .npz")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def load_inputs(args, graph) -> tuple[dict, np.ndarray | None, str]:
    """The feeds the options ask for, the labels (digits), and a one-line description."""
    from snnc.backends.sim import digits_inputs, random_inputs

    if args.samples is not None and args.samples < 1:
        raise SnncError(f"--samples must be >= 1, got {args.samples}")
    if args.input:
        if args.samples is not None:
            raise SnncError("--samples goes with --random-input or --digits; an --input file has its own")
        feeds = {}
        for spec in args.input:
            name, sep, file = spec.rpartition("=")
            if not sep:
                if len(graph.inputs) != 1:
                    raise SnncError(f"the model has inputs {graph.inputs}; give --input NAME=FILE.npy for each")
                name = graph.inputs[0]
            feeds[name] = load_npy(Path(file))
        return feeds, None, ", ".join(args.input)
    if args.digits:
        feeds, labels = digits_inputs(graph, args.samples or 16)
        return feeds, labels, f"{len(labels)} digits (scikit-learn)"
    samples = args.samples or 1
    how = "" if args.random_input else " (no input given: --random-input)"
    return random_inputs(graph, samples, args.seed), None, f"{samples} random sample(s){how}"


def run_simulation(args, integer_as: str = "macs"):
    """Load the model and inputs, simulate; returns (graph, result, input description, seconds)."""
    from snnc.backends.sim import prepare, shape_inputs
    from snnc.backends.sim.simulator import Simulator
    from snnc.passes import run_pipeline

    if args.timesteps is not None and args.timesteps < 1:
        raise SnncError(f"--timesteps must be >= 1, got {args.timesteps}")
    if args.batch_size is not None and args.batch_size < 1:
        raise SnncError(f"--batch-size must be >= 1, got {args.batch_size}")
    graph = load_graph(args.model, args.dt)
    feeds, labels, described = load_inputs(args, graph)
    feeds = shape_inputs(graph, feeds, args.timesteps)
    if args.numerics == "loihi":     # the pass runs its prerequisite fold-bn first
        graph = run_pipeline(graph, "loihi-quantize", options={"loihi-quantize": {"calibration": feeds}})
    graph = prepare(graph, args.numerics)
    progress = not args.no_progress and sys.stderr.isatty()
    sim = Simulator(graph, engine=args.engine, integer_as=integer_as, progress=progress)
    start = time.perf_counter()
    result = sim.simulate(feeds, batch_size=args.batch_size)
    result.numerics = args.numerics
    return graph, result, labels, described, time.perf_counter() - start


def save_npz(path: Path, arrays: dict[str, np.ndarray], force: bool) -> None:
    """Write ``arrays`` to ``path`` atomically; an existing file needs ``force``."""
    check_output(path, force)
    if path.suffix != ".npz":
        raise SnncError(f"{path}: the output is a numpy archive; name it .npz")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def run(args) -> int:
    from snnc.report.text import fmt_count

    if args.output is not None:
        check_output(args.output, args.force)
    graph, result, labels, described, seconds = run_simulation(args)
    print(f"simulated {graph.name}: {described}, T={result.timesteps}, numerics {result.numerics}, "
          f"engine {args.engine}, {seconds:.2f} s ({result.samples / max(seconds, 1e-9):.1f} samples/s)")
    for name, arr in result.outputs.items():
        print(f"  output {name}: {list(arr.shape)} {arr.dtype}")
    neurons = result.neurons()
    if neurons:
        rate = result.total("spikes") / max(result.total("neuron_updates"), 1e-300)
        print(f"  spikes: {fmt_count(result.total('spikes'))} per sample, firing rate {rate:.4f} "
              f"over {len(neurons)} neuron layers")
    print(f"  ops: {fmt_count(result.total('acs'))} ACs, {fmt_count(result.total('macs'))} MACs per sample "
          "(snnc report gives energy)")
    if args.output is not None:
        arrays = {name: np.asarray(arr) for name, arr in result.outputs.items()}
        if labels is not None:
            arrays["labels"] = np.asarray(labels)
        save_npz(args.output, arrays, args.force)
        print(f"wrote {args.output}")
    return 0
