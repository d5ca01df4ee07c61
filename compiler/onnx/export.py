"""PyTorch -> ONNX in the ``snnc`` dialect.

The dynamo exporter (opset 18) writes the graph as the model is written: BatchNorm
stays (``optimize=False``; the compiler's ``fold-bn`` pass folds it, and the report
counts it), each :class:`snnc.nn.SpikingNeuron` becomes one ``snnc`` node via
``torch.onnx.ops.symbolic``. After export snnc

- attaches one FunctionProto per ``snnc`` op type (the exporter would inline a model-
  local function it saw, and the node would vanish),
- names every node after the module that made it (``/blocks.0/mlp/fc1_conv/Conv``),
- records the time and batch axes of each input in the model metadata
  (``snnc.layout``), next to the named dims ``T`` and ``N``.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import warnings
from collections import Counter
from pathlib import Path

import onnx

from snnc.files import check_output
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.onnx import dialect
from snnc.onnx.dialect import DIALECT_KEY, LAYOUT_KEY, TIMESTEPS_KEY
from snnc.onnx.export_sequences import slice_sequences
from snnc.onnx.io import save_model

#: metadata keys written into every exported model

# Module libraries whose stateful neurons snnc cannot see through: they would export as
# an unrolled, state-less graph (or not at all). Those with an adapter
# (:mod:`snnc.onnx.adapters`) are translated first; the rest are refused here.
_FOREIGN_SNN_PACKAGES = ("spikingjelly", "snntorch", "norse", "lava", "sinabs", "brian2")


def check_exportable(model) -> None:
    """Raise :class:`UnsupportedError` naming the first module snnc cannot express
    (after :func:`snnc.onnx.adapters.adapt`: a module an adapter keeps is fine)."""
    from torch import nn

    from snnc.onnx import adapters

    for name, module in model.named_modules():
        path = name or "<root>"
        kind = type(module)
        package = adapters.package_of(module)
        if package in adapters.ADAPTERS:
            if adapters.ADAPTERS[package](path, module) is adapters.KEEP:
                continue
            raise UnsupportedError(f"module '{path}' ({kind.__module__}.{kind.__name__}) was not "
                                   "translated; pass the model through snnc.onnx.adapters.adapt")
        if package in _FOREIGN_SNN_PACKAGES:
            raise UnsupportedError(
                f"module '{path}' ({kind.__module__}.{kind.__name__}) comes from {package}, "
                "whose stateful neurons snnc cannot export; replace it with snnc.nn.LIF / snnc.nn.IF")
        if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
            raise UnsupportedError(
                f"module '{path}' ({kind.__name__}) is a recurrent layer, which the snnc dialect "
                "cannot express; model recurrence with snnc.nn neurons over the time axis")


def _example_args(example_input):
    return example_input if isinstance(example_input, tuple) else (example_input,)


def _input_layout(model) -> tuple[dict[str, int], int | None]:
    """The axes of every input: ``[T, N, ...]``, or ``[N, ...]`` when the model repeats."""
    from snnc.nn import RepeatEncoder

    encoders = [m for m in model.modules() if isinstance(m, RepeatEncoder)]
    if encoders:
        steps = {e.timesteps for e in encoders}
        if len(steps) > 1:
            raise SnncError(f"the model has RepeatEncoders with different timesteps {sorted(steps)}; use one T")
        return {"batch_axis": 0}, steps.pop()
    return {"time_axis": 0, "batch_axis": 1}, None


def _widen(arg, layout: dict[str, int]):
    """Repeat the example along its T/N axes to at least 2: torch.export specialises 1s."""
    for axis in layout.values():
        if arg.dim() <= axis:
            raise SnncError(f"example input of shape {tuple(arg.shape)} has no axis {axis}; "
                            "spiking models take [T, N, ...] inputs (or [N, ...] with a RepeatEncoder)")
        if arg.shape[axis] < 2:
            reps = [1] * arg.dim()
            reps[axis] = 2
            arg = arg.repeat(*reps)
    return arg


def _module_path(node: onnx.NodeProto) -> list[str]:
    """The module names enclosing a node, each relative to its parent: ``['block.0', 'attn', 'q_conv']``."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return []
            # the first scope is the root module (''), the last the traced op itself;
            # the others are full module paths, each extending its parent's
            path, parent = [], ""
            for scope in scopes[1:-1]:
                path.append(scope[len(parent) + 1:] if parent and scope.startswith(parent + ".") else scope)
                parent = scope
            return path
    return []


def _name_nodes(graph: onnx.GraphProto) -> None:
    """Name each node ``/<module path>/<OpType>``, unique (``_1``, ``_2``… on repeats)."""
    seen: Counter[str] = Counter()
    for node in graph.node:
        base = "/" + "/".join(_module_path(node) + [node.op_type])
        seen[base] += 1
        node.name = base if seen[base] == 1 else f"{base}_{seen[base] - 1}"


def _check_float32(args) -> None:
    import torch

    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor):
            raise SnncError(f"example input {i} is a {type(a).__name__}; pass torch tensors")
        if a.dtype != torch.float32:
            raise SnncError(f"example input {i} is {a.dtype}; the snnc dialect is float32, "
                            "pass x.float()")


def to_onnx(model, example_input, *, input_names=None, output_names=None) -> onnx.ModelProto:
    """Export ``model`` to an in-memory ModelProto in the snnc dialect (see module doc)."""
    import torch

    from snnc.onnx.adapters import adapt

    model = adapt(model)        # SpikingJelly's neurons -> snnc.nn (a copy; others refused)
    check_exportable(model)
    args = _example_args(example_input)
    _check_float32(args)
    layout, timesteps = _input_layout(model)
    args = tuple(_widen(a, layout) for a in args)
    dims = {}
    if "time_axis" in layout:
        dims[layout["time_axis"]] = torch.export.Dim("T", min=2)
    dims[layout["batch_axis"]] = torch.export.Dim("N", min=2)
    input_names = list(input_names or (["x"] if len(args) == 1 else [f"x{i}" for i in range(len(args))]))
    was_training = model.training
    model.eval()
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                model, args, dynamo=True, opset_version=dialect.OPSET, optimize=False,
                dynamic_shapes=tuple(dims for _ in args), input_names=input_names,
                output_names=output_names, verbose=False, report=False)
    except Exception as err:  # the exporter raises many types; report its first line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnsupportedError(f"torch.onnx.export failed on {type(model).__name__}: {first}") from err
    finally:
        model.train(was_training)
    proto = program.model_proto
    slice_sequences(proto)          # unbind/chunk: SplitToSequence + SequenceAt -> Slice
    _name_nodes(proto.graph)
    used = {n.op_type for n in proto.graph.node if n.domain == dialect.DOMAIN}
    proto.functions.extend(dialect.function_protos(used))
    if not any(o.domain == dialect.DOMAIN for o in proto.opset_import):
        proto.opset_import.append(onnx.helper.make_opsetid(dialect.DOMAIN, dialect.VERSION))
    meta = {DIALECT_KEY: str(dialect.VERSION),
            LAYOUT_KEY: json.dumps({name: layout for name in input_names})}
    if timesteps is not None:
        meta[TIMESTEPS_KEY] = str(timesteps)
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props}, **meta})
    proto.producer_name, proto.producer_version = "snnc", _version()
    return proto


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's chatter (torchvision registrations, pytree deprecations)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _version() -> str:
    from snnc._version import __version__

    return __version__


def check_importable(proto: onnx.ModelProto, what: str) -> None:
    """Import ``proto`` as ``snnc show`` would, so that no file snnc cannot read is written:
    an export that the importer refuses raises its reason here, before anything is saved."""
    from snnc.onnx.importer import import_model
    from snnc.onnx.importer.validate import ADAPTER_HINT

    try:
        import_model(proto)
    except SnncError as err:
        reason = str(err).replace(ADAPTER_HINT, "")      # the adapters have already run
        raise UnsupportedError(f"{what} exported, but snnc could not read the result back, so nothing "
                               f"was written: {reason}", problems=getattr(err, "problems", None)) from err


def export(model, example_input, path, *, input_names=None, output_names=None,
           overwrite: bool = True, check: bool = True) -> onnx.ModelProto:
    """Export a PyTorch spiking network to ``path`` as ONNX in the snnc dialect.

    Args:
        model: a ``torch.nn.Module``; inputs are ``[T, N, ...]``, or ``[N, ...]`` when the
            model starts with a :class:`snnc.nn.RepeatEncoder`.
        example_input: a tensor or a tuple of tensors (float32).
        path: the ``.onnx`` file to write (atomically).
        overwrite: replace an existing regular file (the default, as ``torch.onnx.export``
            and ``torch.save`` do; the CLI asks for ``--force``); never a folder, link
            or device, whatever this says.
        check: run ``onnx.checker.check_model(full_check=True)`` before writing.

    Returns the ModelProto that was written.
    """
    path = Path(path)
    check_output(path, overwrite)
    proto = to_onnx(model, example_input, input_names=input_names, output_names=output_names)
    if check:
        onnx.checker.check_model(proto, full_check=True)
    check_importable(proto, type(model).__name__)
    save_model(proto, path)
    return proto
