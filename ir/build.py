"""Adding nodes with their output values inferred from the op registry."""

from __future__ import annotations

from typing import Any

import numpy as np

from snnc.ir.errors import IRError
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.registry import get


def infer_outputs(node: Node, ins: list[Value]) -> list[Value]:
    """The output :class:`Value` objects of ``node`` given its inputs, by the registry's
    rules; raises :class:`IRError` naming the node when a rule rejects it."""
    try:
        opdef = get(node.op)
    except KeyError:
        raise IRError(f"node {node.name!r}: unknown op {node.op!r}") from None
    problems = opdef.check(node)
    if problems:
        raise IRError(f"node {node.name!r} ({node.op}): " + "; ".join(problems))
    try:
        shapes = opdef.shape(node, ins)
        dtypes = opdef.dtype(node, ins)
        axes = opdef.axes(node, ins)
        probes = [Value(n, s, d, axes=a) for n, s, d, a in zip(node.outputs, shapes, dtypes, axes)]
        kinds = opdef.kind(node, ins)
    except (ValueError, IndexError, KeyError, TypeError) as err:
        raise IRError(f"node {node.name!r} ({node.op}): {err}") from err
    for value, kind in zip(probes, kinds):
        value.kind = kind
    return probes


def emit(graph: Graph, op: str, inputs: list[str], *, name: str, attrs: dict[str, Any] | None = None,
         params: dict[str, np.ndarray] | None = None, source: str = "",
         outputs: list[str] | None = None) -> Node:
    """Add a node computing ``op`` on ``inputs``; its outputs are named ``outputs`` (default:
    the node's own name, suffixed ``:i`` past the first) and inferred from the registry."""
    n_out = get(op).n_outputs
    outputs = outputs or [name if i == 0 else f"{name}:{i}" for i in range(n_out)]
    node = Node(name, op, list(inputs), list(outputs), dict(attrs or {}), dict(params or {}), source)
    values = infer_outputs(node, [graph.values[v] for v in inputs])
    return graph.add_node(node, values)
