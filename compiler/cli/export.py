"""``snnc export MODEL -o FILE``: write a bundled reference model as ONNX (snnc dialect)."""

from __future__ import annotations

from pathlib import Path

from snnc.files import check_output
from snnc.ir.errors import SnncError


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a bundled reference model to ONNX",
                       description="Export a reference spiking transformer (random weights, or "
                                   "--weights) to ONNX in the snnc dialect.")
    p.add_argument("model", help="spikformer-<size> or spikingformer-<size>, e.g. spikingformer-tiny, "
                                 "spikingformer-4-384")
    p.add_argument("-o", "--output", required=True, type=Path, help="the .onnx file to write")
    p.add_argument("--dataset", default="cifar10", help="cifar10 (default), cifar100, imagenet, "
                                                        "cifar10-dvs, dvs128-gesture")
    p.add_argument("--timesteps", "-T", type=int, default=4, help="T of the example input (default 4)")
    p.add_argument("--weights", type=Path, help="a PyTorch state_dict (.pt) to load (strict=False)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(run=run)


def _build(name: str, dataset: str):
    from snnc import models

    family, _, size = name.partition("-")
    builders = {"spikformer": models.spikformer, "spikingformer": models.spikingformer}
    if family not in builders or size not in models.SIZES:
        raise SnncError(f"unknown model {name!r}; choose <spikformer|spikingformer>-<size>, "
                        f"size one of {', '.join(models.SIZES)}")
    try:
        return builders[family](size, dataset)
    except ValueError as err:
        raise SnncError(str(err)) from err


def run(args) -> int:
    try:
        import torch
    except ImportError as err:
        raise SnncError("snnc export needs PyTorch: pip install 'snnc[torch]' torch==2.13.0") from err
    from snnc.onnx.export import export
    from snnc.onnx.summary import describe

    check_output(args.output, args.force)
    if args.timesteps < 1:
        raise SnncError(f"--timesteps must be >= 1, got {args.timesteps}")
    torch.manual_seed(args.seed)
    model = _build(args.model, args.dataset)
    if args.weights is not None:
        try:
            state = torch.load(args.weights, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError) as err:
            raise SnncError(f"{args.weights}: cannot load a state_dict ({err})") from err
        model.load_state_dict(state.get("model", state), strict=False)
    cfg = model.config
    x = torch.rand(args.timesteps, 1, cfg.in_channels, cfg.img_size, cfg.img_size)
    proto = export(model, x, args.output, overwrite=args.force)
    print(describe(proto, args.output))
    return 0
