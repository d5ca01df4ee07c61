"""``snnc convert ANN.onnx --calib CALIB -o SNN.onnx``: a trained ANN as a spiking network.

    snnc convert ann.onnx --calib calib.npy -o snn.onnx                  # relu-if, p99
    snnc convert bert.onnx --calib calib.npz -o snn.onnx --percentile 99.9
    snnc convert vit.onnx --calib calib.npy -o snn.onnx --method sit --softmax-steps 12

CALIB is a ``.npy`` (one input) or ``.npz`` (one array per graph input, by name) of
samples on axis 0. The output is ONNX in the snnc dialect taking ``[T, N, ...]`` (or
``[N, ...]``, repeated over T): choose T when you run it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from snnc.files import check_output
from snnc.ir.errors import SnncError


def add_parser(sub) -> None:
    from snnc.conversion.convert import METHODS

    p = sub.add_parser("convert", help="convert a trained ANN (ONNX) into a spiking network",
                       description="Calibrate a trained ANN on sample data with onnxruntime and rewrite it "
                                   "into a spiking network in the snnc dialect (T chosen at run time).")
    p.add_argument("model", type=Path, help="the ANN as an ONNX file")
    p.add_argument("--calib", type=Path, required=True, metavar="CALIB",
                   help="calibration samples: .npy (one input) or .npz (one array per input name)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--method", default="relu-if", choices=METHODS,
                   help="ecmt (multi-threshold neurons, expectation compensation, spiking matmul: any ANN), "
                        "sit (ecmt with SIT's Spiking-Softmax for every softmax) or "
                        "relu-if (ReLU networks: IF neurons, threshold balancing); default: relu-if")
    p.add_argument("--softmax-steps", type=int, default=12, metavar="K",
                   help="sit: SI-exp steps K of each Spiking-Softmax, a shipped fitted table 4..33 (default: 12)")
    p.add_argument("--pre-sigmoid", action="store_true",
                   help="sit: a sigmoid before each Spiking-Softmax (SIT 4.3.3; the ANN must be fine-tuned for it)")
    p.add_argument("--softmax-shift", action=argparse.BooleanOptionalAction, default=True,
                   help="sit: subtract each row's max before the SI-exp neurons (exact for softmax; keeps the "
                        "largest input inside SI-exp's fitted [-1, 1]; default: on, --no-softmax-shift "
                        "follows the paper to the letter)")
    p.add_argument("--levels", type=int, default=8, help="ecmt: threshold levels per sign (default: 8)")
    p.add_argument("--thresholds", type=Path, metavar="JSON",
                   help='ecmt: per-layer overrides, {"<layer>": {"theta_pos": .., "theta_neg": .., "levels": ..}}')
    p.add_argument("--percentile", type=float, default=99.0,
                   help="thresholds from this percentile of each activation's positive values (default: 99)")
    p.add_argument("--reset", default="soft", choices=("soft", "hard"),
                   help="IF reset: soft (V -= threshold, more accurate; default) or hard (V = 0, what "
                        "--target loihi compiles today)")
    p.add_argument("--target-agreement", type=float, metavar="X",
                   help="search the fewest levels (n, 6, 4, 2) and the smallest T whose agreement with the "
                        "ANN on --data reaches X, then each layer's levels at that T; writes the chosen SNN")
    p.add_argument("--tune-levels", action=argparse.BooleanOptionalAction, default=True,
                   help="with --target-agreement: then lower each layer's levels at the chosen T, as snnc "
                        "evaluate --target-agreement does (default: on)")
    p.add_argument("--write-levels", type=Path, metavar="FILE",
                   help="with --target-agreement: also write the chosen levels and thresholds per layer, a "
                        "--thresholds file that rebuilds this SNN")
    p.add_argument("--data", type=Path, help="with --target-agreement: the evaluation samples (.npy/.npz)")
    p.add_argument("--labels", type=Path, help="with --target-agreement: labels, to report accuracy")
    p.add_argument("-T", "--max-timesteps", type=int, default=16,
                   help="with --target-agreement: the largest T to try (default: 16)")
    p.add_argument("--agreement", default="top1", choices=("top1", "cosine"),
                   help="with --target-agreement: top-1 match (default) or cosine similarity")
    p.add_argument("--batch-size", type=int, default=64, help="calibration batch size (default: 64)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def run(args) -> int:
    from snnc.conversion.convert import convert
    from snnc.onnx.io import save_model

    check_output(args.output, args.force)
    if args.write_levels is not None:
        if args.target_agreement is None:
            raise SnncError("--write-levels writes what --target-agreement chose; give --target-agreement X")
        if args.method == "relu-if":
            raise SnncError("--write-levels: a relu-if SNN has no multi-threshold neurons; use --method ecmt or sit")
        check_output(args.write_levels, args.force)
    overrides = _overrides(args.thresholds) if args.thresholds else None
    if args.levels < 1:
        raise SnncError(f"--levels must be >= 1, got {args.levels}")
    sit = dict(softmax_steps=args.softmax_steps, pre_sigmoid=args.pre_sigmoid, softmax_shift=args.softmax_shift)
    if args.target_agreement is not None:
        snn, info = _search(args, overrides, sit)
    else:
        snn, info = convert(args.model, args.calib, method=args.method, percentile=args.percentile,
                            batch_size=args.batch_size, progress=True, reset=args.reset, levels=args.levels,
                            overrides=overrides, **sit)
    for line in info.lines():
        print(line)
    save_model(snn, args.output)
    print(f"wrote {args.output}")
    return 0


def _search(args, overrides, sit: dict):
    from snnc.cli.common import load_npy, write_target_outputs
    from snnc.conversion.data import input_specs, load_dataset
    from snnc.conversion.search import search_levels
    from snnc.conversion.target import reach_target
    from snnc.onnx.importer import import_onnx
    from snnc.onnx.io import load_model
    from snnc.onnx.ir_to_onnx import graph_to_onnx

    if args.data is None:
        raise SnncError("--target-agreement needs --data: the samples to measure agreement on")
    if args.max_timesteps < 1:
        raise SnncError(f"-T must be >= 1, got {args.max_timesteps}")
    ann = load_model(args.model)
    data = load_dataset(args.data, input_specs(ann))
    labels = load_npy(args.labels) if args.labels else None
    snn, info, choice, ev = search_levels(ann, args.calib, data, args.target_agreement, method=args.method,
                                          levels=args.levels, max_t=args.max_timesteps, measure=args.agreement,
                                          labels=labels, percentile=args.percentile, overrides=overrides,
                                          progress=True, **sit)
    # then the per-layer levels at the chosen T: the search snnc evaluate --target-agreement runs
    result = reach_target(import_onnx(snn), ann, data, args.target_agreement, ev, measure=args.agreement,
                          tune=args.tune_levels and args.method != "relu-if", choice=choice, labels=labels)
    for line in result.lines():
        print(line)
    write_target_outputs(result, levels=args.write_levels, force=args.force)
    return graph_to_onnx(result.graph) if result.tuned is not None else snn, info


def _overrides(path: Path) -> dict:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise SnncError(f"{path}: not a readable JSON file ({err})") from err
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise SnncError(f'{path}: expected {{"<layer>": {{"theta_pos": .., "theta_neg": .., "levels": ..}}}}')
    allowed = {"theta_pos", "theta_neg", "levels"}
    for layer, fields in data.items():
        bad = sorted(set(fields) - allowed)
        if bad:
            raise SnncError(f"{path}: layer {layer!r} sets unknown field(s) {bad}; allowed: {sorted(allowed)}")
        for key, value in fields.items():
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
                raise SnncError(f"{path}: layer {layer!r} {key} must be positive numbers, got {value!r}")
    return data
