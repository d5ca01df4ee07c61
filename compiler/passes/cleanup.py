"""Clean-up passes: ``dce``, ``remove-identity``, ``fold-constants``.

    # dce: a node none of whose outputs is read or returned goes (repeatedly)
    %dead = relu(%x)                                 (gone)

    # remove-identity: ops that return their input unchanged
    %b = identity(%a)   /  dropout(%a)               (readers of %b read %a)
    %b = cast[to=float32](%a : float32)
    %b = reshape[shape=<shape of %a>](%a)  /  transpose[perm=0,1,…](%a)

    # fold-constants: an op whose inputs are all constants is evaluated now
    %c = constant() {value: [2, 8]}
    %d = reshape[shape=16](%c)                ->     %d = constant() {value: [2, 8, …]}
    # … and two reshapes in a row are one (shape arithmetic)
    %b = reshape[shape=4x8](%a)
    %c = reshape[shape=32](%b)                ->     %c = reshape[shape=32](%a)

Inference dropout is x; a cast to the dtype a value already has, a reshape to its own
shape and the identity permutation change nothing; reshapes are row-major, so
``reshape(reshape(a, s1), s2) = reshape(a, s2)``. A constant op is evaluated with its
registry reference (numpy), exactly what every backend would compute at run time.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.registry import TEMPORAL, get
from snnc.passes.manager import PassReport, register
from snnc.passes.rewrite import bypass, can_bypass, drop_if_unused, keep_output_names, only_reader, reinfer, \
    rename_values, replace_with


@register("dce")
def dce(graph: Graph, report: PassReport | None = None) -> Graph:
    """Remove nodes whose outputs nothing reads and the graph does not return."""
    report = report if report is not None else PassReport("dce")
    g = graph.copy()
    returned = set(g.outputs)
    for node in reversed(g.nodes):       # readers before what they read: one sweep suffices
        if not any(g.users(v) or v in returned for v in node.outputs):
            g.remove_node(node.name)
            report.add("removed")
    report.counts.setdefault("removed", 0)
    return g


def is_noop(graph: Graph, node: Node) -> bool:
    """Whether ``node`` returns its (single) input unchanged."""
    if len(node.inputs) != 1 or len(node.outputs) != 1:
        return False
    x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
    if (x.shape, x.dtype, x.axes) != (y.shape, y.dtype, y.axes):
        return False
    if node.op in ("identity", "dropout", "cast", "reshape"):
        return True
    if node.op == "transpose":
        return list(node.attrs["perm"]) == list(range(len(x.shape)))
    return False


@register("remove-identity")
def remove_identity(graph: Graph, report: PassReport | None = None) -> Graph:
    """Remove identity, inference dropout, no-op casts, reshapes and transposes."""
    report = report if report is not None else PassReport("remove-identity")
    g = graph.copy()
    for node in list(g.nodes):
        if not is_noop(g, node):
            continue
        if not can_bypass(g, node.outputs[0], node.inputs[0]):
            report.leave(node.name, "it returns a graph input or another output under a second name")
            continue
        bypass(g, node, node.inputs[0])
        report.add("removed")
    report.counts.setdefault("removed", 0)
    reinfer(g)
    return keep_output_names(g, graph.outputs)


def _evaluate(graph: Graph, node: Node) -> list[np.ndarray]:
    """Run ``node`` on its constant inputs with the registry's numpy reference."""
    args = [graph.producer(v).params["value"][None] for v in node.inputs]
    return [np.array(np.asarray(r)[0]) for r in get(node.op).run(node, args)]


@register("fold-constants")
def fold_constants(graph: Graph, report: PassReport | None = None) -> Graph:
    """Evaluate ops on constants only; merge consecutive reshapes."""
    report = report if report is not None else PassReport("fold-constants")
    g = graph.copy()
    renamed = {}
    for node in list(g.nodes):
        if node.op == "constant" or get(node.op).has(TEMPORAL) or len(node.outputs) != 1:
            continue
        producers = [g.producer(v) for v in node.inputs]
        if node.inputs and all(p is not None and p.op == "constant" for p in producers):
            value = _evaluate(g, node)[0].astype(g.values[node.outputs[0]].dtype, copy=False)
            temp, out = replace_with(g, node, "constant", [], params={"value": value})
            renamed[temp] = out
            for p in producers:
                drop_if_unused(g, p.outputs[0])
            report.add("folded")
        elif node.op == "reshape" and producers[0] is not None and producers[0].op == "reshape" \
                and only_reader(g, node.inputs[0]) is node:
            inner = producers[0]
            temp, out = replace_with(g, node, "reshape", [inner.inputs[0]], attrs=dict(node.attrs))
            renamed[temp] = out
            g.remove_node(inner.name)
            report.add("reshapes_merged")
    for key in ("folded", "reshapes_merged"):
        report.counts.setdefault(key, 0)
    reinfer(g)
    return keep_output_names(rename_values(g, renamed), graph.outputs)
