"""The IR as JSON, and back: ``from_json(to_json(g))`` is equal to ``g``.

Parameters are stored exactly (raw little-endian bytes, base64); attributes, kinds and
shapes as plain JSON. A malformed document raises :class:`~snnc.ir.errors.IRError`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from snnc.ir.errors import IRError, SnncError
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.kinds import Kind
from snnc.ir.limits import loads

FORMAT = "snnc-ir"
VERSION = 1


def _array_to_json(arr: np.ndarray) -> dict:
    arr = np.asarray(arr)
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)   # tobytes() is C order
    return {"dtype": str(arr.dtype), "shape": list(arr.shape),
            "data": base64.b64encode(little.tobytes()).decode("ascii")}


def _array_from_json(data: dict) -> np.ndarray:
    dtype = np.dtype(data["dtype"]).newbyteorder("<")
    raw = base64.b64decode(data["data"])
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(data["shape"])


def _attr_to_json(v: Any):
    if isinstance(v, (list, tuple)):
        return [_attr_to_json(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def graph_to_dict(graph: Graph) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "name": graph.name, "meta": graph.meta,
        "inputs": list(graph.inputs), "outputs": list(graph.outputs),
        "values": [{"name": v.name, "shape": list(v.shape), "dtype": v.dtype, "kind": v.kind.to_json(),
                    "axes": v.axes} for v in graph.values.values()],
        "nodes": [{"name": n.name, "op": n.op, "inputs": n.inputs, "outputs": n.outputs,
                   "attrs": {k: _attr_to_json(v) for k, v in n.attrs.items()},
                   "params": {k: _array_to_json(v) for k, v in n.params.items()},
                   "source": n.source} for n in graph.nodes],
    }


def to_json(graph: Graph, indent: int | None = None) -> str:
    return json.dumps(graph_to_dict(graph), indent=indent)


def _is_names(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_shape(v) -> bool:
    return isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v)


def check_document(data: dict) -> None:
    """The document's fields have the types :func:`graph_to_dict` writes; the first that
    does not is named (``nodes[3].inputs``), before any of them is used as a name, a key
    or a shape."""
    def bad(where, want):
        raise IRError(f"malformed snnc IR document: {where} should be {want}")

    if not isinstance(data.get("name"), str):
        bad("name", "a string")
    for key in ("inputs", "outputs"):
        if not _is_names(data.get(key)):
            bad(key, "a list of value names")
    if not isinstance(data.get("meta", {}), dict):
        bad("meta", "an object")
    if not isinstance(data.get("values"), list) or not isinstance(data.get("nodes"), list):
        bad("values and nodes", "lists")
    for i, v in enumerate(data["values"]):
        if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not isinstance(v.get("dtype"), str):
            bad(f"values[{i}]", "an object with a string name and dtype")
        if not _is_shape(v.get("shape")):
            bad(f"values[{i}].shape", "a list of sizes >= 0")
        if not isinstance(v.get("axes"), str):
            bad(f"values[{i}].axes", '"TN", "N" or ""')
    for i, n in enumerate(data["nodes"]):
        if not isinstance(n, dict) or not isinstance(n.get("name"), str) or not isinstance(n.get("op"), str):
            bad(f"nodes[{i}]", "an object with a string name and op")
        for key in ("inputs", "outputs"):
            if not _is_names(n.get(key)):
                bad(f"nodes[{i}].{key}", "a list of value names")
        if not isinstance(n.get("attrs"), dict) or not isinstance(n.get("params"), dict):
            bad(f"nodes[{i}].attrs/params", "objects")
        for k, p in n["params"].items():
            if not isinstance(p, dict) or not _is_shape(p.get("shape")) or not isinstance(p.get("dtype"), str) \
                    or not isinstance(p.get("data"), str):
                bad(f"nodes[{i}].params.{k}", "an object with dtype, shape (sizes >= 0) and base64 data")
            if np.dtype(p["dtype"]).kind not in "biuf":
                bad(f"nodes[{i}].params.{k}.dtype", f"a numeric dtype, not {p['dtype']!r}")


def graph_from_dict(data: dict) -> Graph:
    # a foreign document is named as such before its fields are checked
    if data.get("format") != FORMAT:
        raise IRError(f"not an snnc IR document (format {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise IRError(f"snnc IR version {data.get('version')} is not supported (this snnc reads {VERSION})")
    try:
        check_document(data)
        graph = Graph(data["name"])
        graph.meta = dict(data.get("meta", {}))
        values = {v["name"]: Value(v["name"], tuple(v["shape"]), v["dtype"], Kind.from_json(v["kind"]), v["axes"])
                  for v in data["values"]}
        for name in data["inputs"]:
            graph.add_input(values[name])
        for n in data["nodes"]:
            node = Node(n["name"], n["op"], list(n["inputs"]), list(n["outputs"]), dict(n["attrs"]),
                        {k: _array_from_json(v) for k, v in n["params"].items()}, n.get("source", ""))
            graph.add_node(node, [values[o] for o in node.outputs])
        for name, value in values.items():
            if name not in graph.values:
                graph.add_value(value)
        graph.outputs = list(data["outputs"])
        # keep the document's value order, so equality and printing are stable
        graph.values = {name: graph.values[name] for name in values}
        return graph
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as err:
        raise IRError(f"malformed snnc IR document: {type(err).__name__}: {err}") from err


def from_json(text: str, verify: bool = True) -> Graph:
    """The graph of an IR JSON document; with ``verify`` (the default) also checked by
    :func:`snnc.ir.verify.verify`, so a hand-edited document (a LIF with ``tau=0``, a NaN
    weight, a wrong shape) is refused by name when it is read, not when a backend divides
    by it. Nesting too deep for Python's parser is one error, not a RecursionError."""
    try:
        data = loads(text, "snnc IR document", invalid="not JSON")
    except SnncError as err:
        raise IRError(str(err)) from None
    if not isinstance(data, dict):
        raise IRError("not an snnc IR document (expected a JSON object)")
    graph = graph_from_dict(data)
    if verify:
        from snnc.ir.verify import verify as verify_graph

        verify_graph(graph)
    return graph
