"""``snnc run OUTDIR --backend sim|lava --input X.npy [-o OUT.npz]``: run a compiled artifact.

The artifact's quantised program runs with its host part in numpy and its chip part on
the backend: ``sim`` (snnc's loihi numerics) or ``lava`` (lava-nc, Loihi2SimCfg
fixed_pt). Both see the same inputs and give bit-identical spikes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc.files import check_output


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a compiled artifact on the simulator or on Lava",
                       description="Run an artifact written by snnc compile: the chip part on the simulator's "
                                   "Loihi numerics (sim) or on Lava (lava), the host part in numpy.")
    p.add_argument("artifact", type=Path, help="the folder snnc compile wrote")
    p.add_argument("--backend", choices=["sim", "lava"], default="sim")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", type=Path, metavar="FILE.npy",
                     help="[N, ...] static images or [T, N, ...] events (default: one random sample)")
    src.add_argument("--random-input", action="store_true", help="one uniform [0, 1) sample")
    p.add_argument("--timesteps", "-T", type=int, help="T for static inputs (default: the artifact's)")
    p.add_argument("--record", choices=["outputs", "neurons"], default="outputs",
                   help="save the graph outputs (default) or also every chip neuron layer's spikes")
    p.add_argument("-o", "--output", type=Path, help="write the outputs to this .npz (named arrays)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def run(args) -> int:
    from snnc.backends.loihi.run import run_loihi
    from snnc.backends.sim import random_inputs, shape_inputs
    from snnc.cli.common import load_npy
    from snnc.cli.simulate import save_npz
    from snnc.deploy import load_artifact

    if args.output is not None:
        check_output(args.output, args.force)
    manifest, program, _ = load_artifact(args.artifact)
    raw = load_npy(args.input) if args.input is not None else random_inputs(program, 1)
    steps = args.timesteps or manifest.get("timesteps")
    feeds = shape_inputs(program, raw, steps)
    result = run_loihi(program, feeds, engine=args.backend)
    arrays = {name: np.asarray(v) for name, v in result.outputs.items()}
    if args.record == "neurons":
        arrays.update({f"spikes/{name}": np.asarray(v) for name, v in result.values.items()})
    print(f"ran {args.artifact} ({manifest['model']}, {manifest['target']}) on {args.backend}: "
          f"{len(result.values)} chip layers probed, {result.seconds:.2f} s in the chip engine")
    for name, arr in arrays.items():
        print(f"  {name}: {list(arr.shape)} {arr.dtype}")
    if args.output is not None:
        save_npz(args.output, arrays, args.force)
        print(f"wrote {args.output}")
    return 0
