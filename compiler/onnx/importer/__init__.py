"""ONNX -> spiking IR.

    graph = import_onnx("model.onnx")

1. validate: opset, names, order, and every op has a converter (all listed at once);
2. probe twice, at two (T, N) pairs: concrete shapes, folded shape arithmetic
   (:mod:`.probe`);
3. read each tensor's time/batch layout off the probes (:mod:`.layout`);
4. convert each network node with its op's converter (``convert_*.py``), dropping the
   time and batch axes: per-sample shapes, decoders where time is reduced;
5. name nodes after their modules (:mod:`.naming`) and verify the result.

A file exported by snnc records its time and batch axes (``snnc.layout``); a file from
another tool has no time axis: its inputs are ``[N, ...]`` (an ANN, or an SNN that
repeats its input over a constant number of steps, which the importer recognises).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from snnc.ir import verify as ir_verify
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph, Value
from snnc.ir.kinds import ANALOG
from snnc.onnx.importer import (convert_einsum, convert_elementwise, convert_nn, convert_shape,  # noqa: F401
                                convert_snnc)
from snnc.onnx.importer.canonical import canonicalize
from snnc.onnx.importer.context import CONVERTERS, Context
from snnc.onnx.importer.initializers import read_initializers
from snnc.onnx.importer.layout import Sizes
from snnc.onnx.dialect import ANN_MACS_KEY, LAYOUT_KEY, TIMESTEPS_KEY
from snnc.onnx.importer.metadata import check_input_size, read_ann_macs, read_metadata
from snnc.onnx.importer.probe import DATA, Prober
from snnc.onnx.importer.naming import rename, scoped_names
from snnc.onnx.importer.validate import check_inputs, check_ops, default_opset, network_nodes, sorted_nodes
from snnc.onnx.io import load_model

# two (T, N) pairs at which every dimension reads unambiguously as T, N, T*N or constant
PROBES = [(2, 3), (5, 7)]


@dataclass
class InputSpec:
    name: str
    time_axis: int | None
    batch_axis: int
    dims: list          # int, or None where the file leaves the dimension open
    elem_type: int


@dataclass
class ImportResult:
    """The graph, and how every ONNX node was treated (for tests and ``snnc show -v``)."""

    graph: Graph
    converted: dict[str, list[str]] = field(default_factory=dict)   # ONNX node -> IR nodes
    folded: list[str] = field(default_factory=list)                  # constant/shape arithmetic
    aliased: list[str] = field(default_factory=list)                 # per-sample no-ops
    # ONNX tensor -> (the IR value that carries it, where its batch axes sit in ONNX; None
    # where the batch is merged with a per-sample axis: [N*heads, L, d])
    values: dict[str, tuple[str, int]] = field(default_factory=dict)


def _input_specs(model: onnx.ModelProto) -> tuple[list[InputSpec], int | None]:
    meta = {p.key: p.value for p in model.metadata_props}
    layouts, timesteps = read_metadata(meta.get(LAYOUT_KEY), meta.get(TIMESTEPS_KEY))
    initializers = {i.name for i in model.graph.initializer}
    specs = []
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        spec = layouts.get(inp.name, {"batch_axis": 0})
        if not isinstance(spec, dict):
            raise SnncError(f"metadata {LAYOUT_KEY}: the entry of input {inp.name!r} is {spec!r}; it should be "
                            '{"time_axis": 0, "batch_axis": 1} or {"batch_axis": 0} (re-export the model)')
        time_axis, batch_axis = spec.get("time_axis"), spec.get("batch_axis", 0)
        if (time_axis, batch_axis) not in ((0, 1), (None, 0)):
            raise SnncError(f"input {inp.name!r}: layout {spec} is not supported; inputs are [T, N, ...] or [N, ...]")
        lead = 2 if time_axis is not None else 1
        if len(dims) < lead:
            raise SnncError(f"input {inp.name!r} has rank {len(dims)}; it needs a batch axis first")
        open_dims = [i for i, d in enumerate(dims[lead:], lead) if d is None]
        if open_dims:
            raise SnncError(f"input {inp.name!r} has open dimension(s) {open_dims}; snnc needs fixed per-sample "
                            "shapes (export with a fixed input size)")
        check_input_size(inp.name, dims[lead:], tt.elem_type)
        specs.append(InputSpec(inp.name, time_axis, batch_axis, dims, tt.elem_type))
    if not specs:
        raise SnncError("the graph has no inputs")
    return specs, timesteps


def _probe_sizes(specs: list[InputSpec]) -> tuple[list[Sizes], bool]:
    """Where the file leaves T/N open, probe at :data:`PROBES`; else at its fixed sizes
    and, if the graph allows it (``True``: try), at a second, larger pair."""
    timed = any(s.time_axis is not None for s in specs)
    open_ = [s for s in specs if any(s.dims[a] is None for a in (s.time_axis, s.batch_axis) if a is not None)]
    if open_:
        return [Sizes(t if timed else None, n) for t, n in PROBES], False
    fixed = {(s.dims[s.time_axis] if s.time_axis is not None else None, s.dims[s.batch_axis]) for s in specs}
    if len(fixed) > 1:
        raise SnncError(f"inputs disagree on their time/batch sizes: {sorted(fixed, key=str)}")
    t, n = fixed.pop()
    return [Sizes(t, n), Sizes(None if t is None else t + 3, n + 2)], True


def _resize(sizes: list[Sizes]) -> dict[int, int]:
    """A fixed-batch file's sizes -> the second probe's: N, and T and T*N when timed
    (a size that two of them share is left out: it cannot be told apart)."""
    first, second = sizes
    pairs = [(first.N, second.N)]
    if first.T is not None:
        pairs += [(first.T, second.T), (first.T * first.N, second.T * second.N)]
    keys = [a for a, _ in pairs]
    return {a: b for a, b in pairs if keys.count(a) == 1}


def _shape_at(spec: InputSpec, sizes: Sizes) -> tuple[int, ...]:
    dims = list(spec.dims)
    if spec.time_axis is not None:
        dims[spec.time_axis] = sizes.T
    dims[spec.batch_axis] = sizes.N
    return tuple(dims)


def import_model(model: onnx.ModelProto, name: str = "main") -> ImportResult:
    """Lift an in-memory ONNX model into the IR (see the module docstring)."""
    opset = default_opset(model)
    check_inputs(model)
    nodes = sorted_nodes(model)
    check_ops(nodes, network_nodes(model, nodes))
    specs, timesteps = _input_specs(model)
    sizes, optional_second = _probe_sizes(specs)
    initializers = read_initializers(model)
    nodes = canonicalize(model, nodes, initializers)
    prober = Prober(model, initializers, nodes)
    probes = [prober.run({s.name: _shape_at(s, sizes[0]) for s in specs})]
    try:
        resize = _resize(sizes) if optional_second else None
        probes.append(prober.run({s.name: _shape_at(s, sizes[1]) for s in specs}, resize))
    except SnncError:
        if not optional_second:
            raise
        # the file fixes its batch size (constants shaped by it): read layouts at that size
        sizes = sizes[:1]
    try:
        return _convert(model, name, nodes, specs, probes, sizes, timesteps, opset)
    except SnncError as err:
        if len(probes) == 1 or not optional_second:
            raise
        # the resized probe read a stale reshape target consistently, but not as the model
        # means it (MobileViT's [N*4, 1, 288] -> [4, N, 3, 4, 24]): the file's batch decides
        try:
            return _convert(model, name, nodes, specs, probes[:1], sizes[:1], timesteps, opset)
        except SnncError:
            raise err from None


def _convert(model: onnx.ModelProto, name: str, nodes: list[onnx.NodeProto], specs: list[InputSpec],
             probes: list, sizes: list[Sizes], timesteps: int | None, opset: int) -> ImportResult:
    """Steps 3-5 of the module docstring, at the probes given."""
    graph = Graph(name)
    ctx = Context(graph, probes, sizes, timesteps, opset)
    result = ImportResult(graph)
    for spec in specs:
        layout = ctx.layout(spec.name)
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(spec.elem_type))
        graph.add_input(Value(spec.name, layout.sample, dtype, ANALOG, layout.axes))
        ctx.ir[spec.name] = spec.name
    converted = {}
    for node in nodes:
        label = node.name or node.output[0]
        if not any(probes[0].status.get(o) == DATA for o in node.output if o):
            result.folded.append(label)
            continue
        ctx.node, ctx.created = node, []
        CONVERTERS[("" if node.domain in ("", "ai.onnx") else node.domain, node.op_type)](ctx, node)
        if ctx.created:
            converted[label] = ctx.created
        else:
            result.aliased.append(label)
    fixed = {name: name for name in graph.inputs}
    outputs = []
    for out in model.graph.output:
        if ctx.is_data(out.name):
            _check_output_layout(out.name, ctx.layout(out.name))
            value = ctx.ir[out.name]
        else:                           # a model that returns a constant
            value = ctx.constant(out.name, probes[0].values[out.name])
        if value in fixed:              # an input returned as is, or one value returned twice
            value = _identity(graph, value, out.name)
        fixed[value] = out.name
        outputs.append(value)
    graph.outputs = outputs
    graph.meta = {"timesteps": ctx.timesteps}
    ann_macs = read_ann_macs({p.key: p.value for p in model.metadata_props}.get(ANN_MACS_KEY))
    if ann_macs is not None:
        graph.meta["ann_macs"] = ann_macs
    renamed, names, value_names = rename(graph, fixed, scoped_names(nodes))
    ir_verify.verify(renamed)
    result.graph = renamed
    result.converted = {k: [names[n] for n in v] for k, v in converted.items()}
    result.values = {tensor: (value_names[v], None if ctx.layout(tensor).merged else ctx.layout(tensor).pos)
                     for tensor, v in ctx.ir.items()}
    return result


def _check_output_layout(name: str, layout) -> None:
    """Outputs carry their batch first, as inputs do: the IR's values are per sample, and
    a graph output whose batch sits elsewhere would come back in another layout."""
    if layout.merged or layout.pos:
        raise SnncError(f"output {name!r} is laid out as {layout.describe()}; snnc returns outputs with "
                        "their time/batch axes first: return it batch-first (e.g. .movedim or .reshape)")


def _identity(graph: Graph, value: str, name: str) -> str:
    from snnc.ir.build import emit

    node = emit(graph, "identity", [value], name=graph.fresh_name(f"{name}:identity"), source=name)
    return node.outputs[0]


def import_onnx(source: str | os.PathLike | onnx.ModelProto) -> Graph:
    """ONNX file (or ModelProto) -> :class:`~snnc.ir.graph.Graph`. User errors raise
    :class:`~snnc.ir.errors.SnncError` with one line (and one per problem)."""
    if isinstance(source, onnx.ModelProto):
        return import_model(source).graph
    path = Path(source)
    model = load_model(path)
    return import_model(model, name=_graph_name(path)).graph


def _graph_name(path: Path) -> str:
    stem = path.stem
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in stem) or "main"


__all__ = ["ImportResult", "import_model", "import_onnx"]
