"""IR -> ONNX in the snnc dialect (opset 18), so onnxruntime can run a rewritten graph.

    proto = graph_to_onnx(graph)              # onnx.ModelProto, checked
    save_graph(graph, "model.opt.onnx")        # atomic; an existing file needs overwrite=True

The file looks like one :func:`snnc.onnx.export.to_onnx` writes: inputs with named dims
``T`` and ``N`` (``[T, N, ...]``, or ``[N, ...]`` outside time), the ``snnc.layout``
metadata, one ``snnc::LIF``/``snnc::IF`` node per neuron with its typed attributes, the
FunctionProtos of :func:`snnc.onnx.dialect.function_protos`, and outputs named as the
IR's graph outputs. Time and batch come back around each op as PyTorch SNN code writes
them: ``[T, N, ...]`` around neurons and time ops, ``[T*N, ...]`` (or ``[N, ...]`` for
per-sample values) around stateless ops, with reshapes between the two, so
:func:`snnc.onnx.importer.import_onnx` reads the file back into an equivalent graph.

Every IR op has one lowering function in :mod:`snnc.onnx.op_lowerings` (a table, op ->
function) that adds nodes through a :class:`snnc.onnx.lowering.Lowering`. Nodes whose outputs are constants are evaluated here with the registry's
numpy reference and written as initializers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from snnc.files import check_output
from snnc.ir.errors import UnsupportedError
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.registry import get
from snnc.onnx import dialect
from snnc.onnx.dialect import ANN_MACS_KEY, DIALECT_KEY, LAYOUT_KEY, TIMESTEPS_KEY
from snnc.onnx.io import save_model
from snnc.onnx.lowering import Lowering, natural
from snnc.onnx.op_lowerings import LOWERINGS

IR_VERSION = 10          # what the dynamo exporter writes; onnxruntime >= 1.18 reads it


def _evaluate(lw: Lowering, node: Node) -> None:
    """A node on constants only: its value now, by the registry's numpy reference."""
    args = [lw.consts[v][None] for v in node.inputs]
    for name, result in zip(node.outputs, get(node.op).run(node, args)):
        lw.consts[name] = np.asarray(result)[0].astype(lw.value(name).dtype, copy=False)


def _type(value: Value, dims: list) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(value.dtype))
    return helper.make_tensor_value_info(value.name, elem, dims + list(value.shape))


def _lead_dims(value: Value, steps: int | None, timed_inputs: bool) -> list:
    if value.axes == "TN":
        return ["T" if timed_inputs or steps is None else steps, "N"]
    return ["N"] if value.axes == "N" else []


def graph_to_onnx(graph: Graph, *, check: bool = True) -> onnx.ModelProto:
    """``graph`` as an ONNX model in the snnc dialect (see the module docstring)."""

    lw = Lowering(graph)
    problems = [f"graph input {v!r} is a constant" for v in graph.inputs if graph.values[v].axes == ""]
    problems += [f"graph output {v!r} is also a graph input" for v in graph.outputs if v in graph.inputs]
    problems += [f"graph output {v!r} is returned twice" for i, v in enumerate(graph.outputs) if v in graph.outputs[:i]]
    problems += [f"node {n.name!r}: op {n.op!r} has no ONNX lowering" for n in graph.nodes
                 if n.op not in LOWERINGS and (n.op == "constant" or any(graph.values[o].axes for o in n.outputs))]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnsupportedError(f"graph {graph.name!r} cannot be written as ONNX: {problems[0]}{more}",
                               problems=problems if more else [])
    for name in graph.inputs:
        lw.tensors[(name, natural(graph.values[name]))] = name
    for node in graph.nodes:
        if node.op != "constant" and all(graph.values[o].axes == "" for o in node.outputs):
            _evaluate(lw, node)
            continue
        lw.current = node.source if node.source and node.source not in lw.node_names else node.name
        LOWERINGS[node.op](lw, node)
    for name in graph.outputs:
        lw.current = ""
        if lw.tensor(name, natural(graph.values[name])) != name:      # a constant output
            lw.add("Identity", [lw.tensors[(name, "C")]], out=name, name=f"/{name}/Identity")
    steps, timed = lw.timesteps(), lw._timed_input() is not None
    proto_graph = helper.make_graph(
        lw.prologue + lw.body, graph.name,
        [_type(graph.values[v], _lead_dims(graph.values[v], steps, timed)) for v in graph.inputs],
        [_type(graph.values[v], _lead_dims(graph.values[v], steps, timed)) for v in graph.outputs],
        initializer=lw.initializers)
    model = helper.make_model(
        proto_graph, ir_version=IR_VERSION, producer_name="snnc", producer_version=_version(),
        opset_imports=[helper.make_opsetid("", dialect.OPSET), helper.make_opsetid(dialect.DOMAIN, dialect.VERSION)],
        functions=dialect.function_protos(lw.domains))
    layout = {v: {"time_axis": 0, "batch_axis": 1} if graph.values[v].timed else {"batch_axis": 0}
              for v in graph.inputs}
    meta = {DIALECT_KEY: str(dialect.VERSION), LAYOUT_KEY: json.dumps(layout)}
    if graph.meta.get("timesteps") is not None:
        meta[TIMESTEPS_KEY] = str(graph.meta["timesteps"])
    if graph.meta.get("ann_macs") is not None:
        meta[ANN_MACS_KEY] = str(int(graph.meta["ann_macs"]))
    helper.set_model_props(model, meta)
    if check and model.ByteSize() < 2**31 - 1:     # past 2 GB only the external-data file can be checked
        onnx.checker.check_model(model, full_check=True)
    return model


def save_graph(graph: Graph, path: str | os.PathLike, *, overwrite: bool = False) -> onnx.ModelProto:
    """Write ``graph`` to ``path`` as ONNX (checked, atomically); returns the model."""
    path = Path(path)
    check_output(path, overwrite)
    model = graph_to_onnx(graph)
    save_model(model, path)
    return model


def _version() -> str:
    from snnc._version import __version__

    return __version__
