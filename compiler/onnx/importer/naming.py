"""Readable, stable names for the imported IR.

An exporter names nodes after the module that made them: ``/block.0/attn/q_conv/Conv``
(snnc, TorchScript) or ``/layer1/layer1.0/conv1/Conv`` (TorchScript's full paths). The
IR node takes the module path, ``block.0.attn.q_conv``, when no other IR node comes from
that module, and ``block.0.add_1`` (module path and op) when several do; its value takes
the node's name. Graph inputs and outputs keep their ONNX names, and ``node.source``
keeps the ONNX node name for diagnostics (``[onnx: /block.0/attn/q_conv/Conv]``).

The dynamo exporter names nodes ``node_conv2d_3`` and records the module scopes in each
node's metadata (``pkg.torch.onnx.name_scopes``, ``namespace``): those give the same
module paths (:func:`scoped_names`).
"""

from __future__ import annotations

import ast
from collections import Counter

import onnx

from snnc.ir.graph import Graph, Node, Value, first_free

NAME_SCOPES, NAMESPACE = "pkg.torch.onnx.name_scopes", "namespace"


def _scopes(node: onnx.NodeProto) -> list[str] | None:
    """The module scopes the dynamo exporter records on a node: ``['', 'blocks',
    'blocks.0', 'blocks.0.attn', 'matmul']`` (the root module, full module paths, then the
    traced op). ``name_scopes`` holds them as a Python list; ``namespace`` as
    ``": Root/blocks: Sequential/…/matmul: aten.matmul.default"``."""
    meta = {p.key: p.value for p in node.metadata_props}
    if NAME_SCOPES in meta:
        try:
            scopes = ast.literal_eval(meta[NAME_SCOPES])
        except (ValueError, SyntaxError):
            scopes = None
        if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes):
            return scopes
    if NAMESPACE in meta:
        return [part.split(": ", 1)[0].strip() for part in meta[NAMESPACE].split("/")]
    return None


def scoped_names(nodes: list[onnx.NodeProto]) -> dict[str, str]:
    """ONNX node name -> a path in the TorchScript exporter's style, read from the dynamo
    exporter's metadata: ``node_matmul_3`` with scopes ``['', 'blocks', 'blocks.0',
    'blocks.0.attn', 'matmul_3']`` becomes ``/blocks/blocks.0/blocks.0.attn/MatMul``
    (module path ``blocks.0.attn``). Nodes already named by path, or without the
    metadata, are left out."""
    out = {}
    for node in nodes:
        label = node.name or node.output[0]
        if label.startswith("/"):
            continue
        scopes = _scopes(node)
        if scopes is None or len(scopes) < 2:
            continue
        modules = [s for s in scopes[1:-1] if s]
        out[label] = "/" + "/".join(modules + [node.op_type])
    return out


def module_path(onnx_name: str) -> tuple[str, str]:
    """``/block.0/attn/q_conv/Conv_1`` -> (``block.0.attn.q_conv``, ``conv_1``)."""
    if not onnx_name.startswith("/"):
        return "", onnx_name.lower()
    parts = [p for p in onnx_name.split("/") if p]
    if not parts:
        return "", onnx_name
    path = ""
    for scope in parts[:-1]:
        # TorchScript repeats the parent's path ("layer1.0"); snnc writes relative names
        path = scope if path and scope.startswith(path + ".") else (f"{path}.{scope}" if path else scope)
    return path, parts[-1].lower()


def _base_names(graph: Graph, scopes: dict[str, str]) -> dict[str, str]:
    suffix = {n.name: n.name[len(n.source):] if n.source and n.name.startswith(n.source) else ""
              for n in graph.nodes}
    parts = {n.name: module_path(scopes.get(n.source, n.source or n.name)) for n in graph.nodes
             if n.op != "constant"}
    per_module = Counter(path for path, _ in parts.values() if path)
    names = {}
    for node_name, (path, op_part) in parts.items():
        if path and per_module[path] == 1:
            base = path
        elif path:
            base = f"{path}.{op_part}"
        else:
            base = op_part
        names[node_name] = base + suffix[node_name].replace(":", ".")
    return names


def rename(graph: Graph, fixed: dict[str, str], scopes: dict[str, str] | None = None
           ) -> tuple[Graph, dict[str, str], dict[str, str]]:
    """A copy of ``graph`` with display names (see module docstring); the values in
    ``fixed`` (the graph's inputs and outputs) get the names it gives them; ``scopes``
    gives module paths for ONNX nodes named otherwise (:func:`scoped_names`). Also
    returns the new name of every node and of every value."""
    names = _base_names(graph, scopes or {})
    taken: set[str] = set(fixed.values())

    def claim(base: str) -> str:
        name = first_free(base, taken.__contains__)
        taken.add(name)
        return name

    for node in graph.nodes:
        if node.op != "constant":
            names[node.name] = claim(names[node.name])
    for node in graph.nodes:            # constants after their first reader's name
        if node.op == "constant":
            users = graph.users(node.outputs[0])
            reader = names[users[0].name] if users else "unused"
            index = users[0].inputs.index(node.outputs[0]) if users else 0
            names[node.name] = claim(f"{reader}.c{index}")
    value_names = dict(fixed)
    for node in graph.nodes:
        for i, out in enumerate(node.outputs):
            if out not in fixed:
                value_names[out] = names[node.name] if i == 0 else claim(f"{names[node.name]}:{i}")
    out = Graph(graph.name)
    out.meta = dict(graph.meta)
    for name in graph.inputs:
        v = graph.values[name]
        out.add_input(Value(value_names[name], v.shape, v.dtype, v.kind, v.axes))
    for node in graph.nodes:
        outs = [graph.values[o] for o in node.outputs]
        out.add_node(Node(names[node.name], node.op, [value_names[i] for i in node.inputs],
                          [value_names[o] for o in node.outputs], dict(node.attrs), dict(node.params),
                          node.source),
                     [Value(value_names[v.name], v.shape, v.dtype, v.kind, v.axes) for v in outs])
    out.outputs = [value_names[o] for o in graph.outputs]
    return out, names, value_names
