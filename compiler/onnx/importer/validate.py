"""Checks a model is usable before anything runs on it: opset, names, order, ops.

Each problem is one line naming the node and its op; every unsupported op is listed at
once, so a user sees the whole list before changing their model.
"""

from __future__ import annotations

import networkx as nx
import onnx

from snnc.ir.errors import SnncError, UnsupportedError
from snnc.onnx import dialect
from snnc.onnx.importer.context import CONVERTERS
from snnc.onnx.importer.probe import TYPE_ONLY_INPUTS, node_label

MIN_OPSET = 11


def default_opset(model: onnx.ModelProto) -> int:
    opsets = {o.domain or "": o.version for o in model.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx"))
    max_opset = onnx.defs.onnx_opset_version()
    if opset is None:
        raise SnncError("the model imports no default-domain (ai.onnx) opset; it is not a valid ONNX model")
    if not MIN_OPSET <= opset <= max_opset:
        raise SnncError(f"opset {opset} is not supported (snnc reads {MIN_OPSET}..{max_opset}); "
                        "convert it with onnx.version_converter.convert_version")
    if dialect.DOMAIN in opsets and opsets[dialect.DOMAIN] != dialect.VERSION:
        raise SnncError(f"snnc dialect version {opsets[dialect.DOMAIN]} is not supported (this snnc reads "
                        f"{dialect.VERSION}); re-export the model with this snnc")
    return opset


def sorted_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The graph's nodes in a topological order, after checking every name is defined once."""
    graph = model.graph
    if not graph.node:
        raise SnncError("the graph has no nodes")
    if not graph.output:
        raise SnncError("the graph has no outputs")
    defined: dict[str, str] = {}
    for init in graph.initializer:
        defined[init.name] = "initializer"
    for inp in graph.input:
        if inp.name in defined and defined[inp.name] != "initializer":
            raise SnncError(f"input {inp.name!r} is declared twice")
        defined.setdefault(inp.name, "input")
    check_arity(graph.node, {o.domain or "": o.version for o in model.opset_import})
    producer: dict[str, int] = {}
    for idx, node in enumerate(graph.node):
        for out in node.output:
            if not out:
                continue
            if out in defined or out in producer:
                raise SnncError(f"{node_label(node)}: output {out!r} is already defined elsewhere")
            producer[out] = idx
    problems = []
    deps = nx.DiGraph()
    deps.add_nodes_from(range(len(graph.node)))
    for idx, node in enumerate(graph.node):
        for name in node.input:
            if not name:
                continue
            if name in producer:
                deps.add_edge(producer[name], idx)
            elif name not in defined:
                problems.append(f"{node_label(node)} reads {name!r}, which no input, initializer or node defines")
    inputs = {i.name for i in graph.input} - {i.name for i in graph.initializer}
    for out in graph.output:
        if out.name in inputs:
            raise SnncError(f"graph output {out.name!r} is the graph input itself; a model snnc compiles "
                            "computes its outputs (check the output's name)")
        if out.name not in producer and out.name not in defined:
            problems.append(f"graph output {out.name!r} is not computed by any node")
    if problems:
        raise SnncError(f"the graph reads {len(problems)} undefined tensor(s); the file is incomplete",
                        problems=problems)
    try:
        order = list(nx.lexicographical_topological_sort(deps))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(deps)
        names = " -> ".join(graph.node[u].name or graph.node[u].op_type for u, _ in cycle)
        raise SnncError(f"the graph has a cycle ({names}); ONNX graphs must be acyclic") from None
    return [graph.node[i] for i in order]


#: where a neuron unrolled by another framework's exporter is not recognised, the way through
ADAPTER_HINT = ("; a SpikingJelly, snnTorch, Norse or Sinabs model exports through snnc.export(model, x, path), "
                "which translates its neurons (docs/frameworks.md)")


def check_ops(nodes: list[onnx.NodeProto], network: set[str] | None = None) -> None:
    """Raise listing every node snnc cannot convert, all at once: nodes of foreign domains,
    unknown ops, and (given ``network``, the nodes that compute on the input's values)
    network nodes whose op has no converter. Other nodes fold to constants."""
    lines = []
    for node in nodes:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if domain not in ("", dialect.DOMAIN):
            lines.append(node_label(node))
        elif domain == dialect.DOMAIN and node.op_type not in dialect.SCHEMAS:
            lines.append(node_label(node))
        elif domain == "" and not onnx.defs.has(node.op_type):
            lines.append(node_label(node))
        elif network is not None and (node.name or node.output[0]) in network \
                and (domain, node.op_type) not in CONVERTERS:
            lines.append(node_label(node))
    if lines:
        kinds = sorted({ln.rsplit("(", 1)[-1].rstrip(")") for ln in lines})
        raise UnsupportedError(f"{len(lines)} node(s) use ops snnc does not support: {', '.join(kinds)}"
                               f"{ADAPTER_HINT}", problems=lines)


def network_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> set[str]:
    """The nodes that compute on the input's values (the rest fold to constants): a node is
    in the network when a value it reads (not just its type or shape) comes from an input."""
    initializers = {i.name for i in model.graph.initializer}
    data = {i.name for i in model.graph.input if i.name not in initializers}
    network = set()
    for node in nodes:
        skip = TYPE_ONLY_INPUTS.get(node.op_type, set()) if node.domain in ("", "ai.onnx") else set()
        if any(name in data for k, name in enumerate(node.input) if k not in skip):
            data.update(o for o in node.output if o)
            network.add(node.name or node.output[0])
    return network


def check_inputs(model: onnx.ModelProto) -> None:
    initializers = {i.name for i in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        if not inp.type.HasField("tensor_type"):
            raise SnncError(f"input {inp.name!r} is not a tensor")
        tt = inp.type.tensor_type
        if not tt.HasField("shape"):
            raise SnncError(f"input {inp.name!r} has no shape; export with a known rank")


def check_arity(nodes, opsets: dict[str, int]) -> None:
    """Every node has a first output, and as many inputs and outputs as its op's schema
    allows (a node with none, or a LIF with a second input, is refused by name rather
    than indexed past its end or silently read in part). Unknown ops are left to
    :func:`check_ops`."""
    for node in nodes:
        if not node.output or not node.output[0]:
            raise SnncError(f"{node_label(node)} has no output; every ONNX node computes at least one tensor")
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if domain == dialect.DOMAIN:
            schema = dialect.SCHEMAS.get(node.op_type)
            bounds = None if schema is None else (*schema.arity, schema.outputs, schema.outputs)
        elif domain == "" and onnx.defs.has(node.op_type):
            try:
                s = onnx.defs.get_schema(node.op_type, opsets.get("", opsets.get("ai.onnx", 1)), "")
            except onnx.defs.SchemaError:
                continue
            bounds = (s.min_input, s.max_input, s.min_output, s.max_output)
        else:
            continue
        if bounds is None:
            continue
        lo_in, hi_in, lo_out, hi_out = bounds
        n_in = len(node.input)
        if not lo_in <= n_in <= hi_in or any(not node.input[k] for k in range(min(lo_in, n_in))):
            want = str(lo_in) if lo_in == hi_in else f"{lo_in}..{hi_in}"
            raise SnncError(f"{node_label(node)} has {n_in} input(s) {list(node.input)}; the op takes {want}")
        if not lo_out <= len(node.output) <= hi_out:
            want = str(lo_out) if lo_out == hi_out else f"{lo_out}..{hi_out}"
            raise SnncError(f"{node_label(node)} has {len(node.output)} output(s); the op makes {want}")
