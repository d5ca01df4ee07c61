"""What the passes share: reading patterns off the graph and rewriting it in place.

Passes work on their own ``graph.copy()``; these helpers mutate that copy. Node and
value names never change, except that a graph output keeps its name when the node that
made it is folded away (:func:`keep_output_names`).
"""

from __future__ import annotations

import numpy as np

from snnc.ir.build import emit, infer_outputs
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.rewrite import RewriteLog


def only_reader(graph: Graph, value: str) -> Node | None:
    """The one node reading ``value``, if exactly one does and it is not a graph output."""
    users = graph.users(value)
    if len(users) != 1 or value in graph.outputs:
        return None
    return users[0] if users[0].inputs.count(value) == 1 else None


def readers_note(graph: Graph, value: str) -> str:
    """Why ``value`` has no single reader: ``"read by 2 nodes ('a', 'b')"``, ``"a graph output"``."""
    if value in graph.outputs:
        return "a graph output"
    users = graph.users(value)
    return f"read by {len(users)} nodes ({', '.join(repr(u.name) for u in users[:3])})"


def const_of(graph: Graph, value: str) -> np.ndarray | None:
    """The array of a ``constant`` node's output, else None."""
    node = graph.producer(value)
    if node is None or node.op != "constant":
        return None
    return node.params["value"]


def can_bypass(graph: Graph, out: str, into: str) -> bool:
    """Whether readers of ``out`` may read ``into`` instead without a graph output
    losing its name or two outputs merging (``out`` keeps its name by renaming ``into``)."""
    if out not in graph.outputs:
        return True
    return into not in graph.inputs and into not in graph.outputs


def bypass(graph: Graph, node: Node, into: str) -> None:
    """Remove ``node``: every reader of its (single) output reads ``into`` instead."""
    graph.replace_uses(node.outputs[0], into)
    graph.remove_node(node.name)


def replace_with(graph: Graph, old: Node, op: str, inputs: list[str], *, attrs=None, params=None) -> tuple[str, str]:
    """Put a new ``op`` node, named like ``old``, where ``old`` (one output) was; its readers
    read the new node. The new output has a temporary name: returns ``(temporary, old
    name)`` for :func:`rename_values` to give the old name back once the pass is done."""
    out = old.outputs[0]
    graph.remove_node(old.name, drop_outputs=False)
    temp = graph.fresh_name(out + "~")
    emit(graph, op, inputs, name=old.name, attrs=attrs, params=params, source=old.source, outputs=[temp])
    graph.replace_uses(out, temp)
    del graph.values[out]
    return temp, out


def drop_if_unused(graph: Graph, value: str) -> int:
    """Remove the constant node making ``value`` if nothing reads it any more (1 if removed)."""
    node = graph.producer(value)
    if node is not None and node.op == "constant" and not graph.users(value) and value not in graph.outputs:
        graph.remove_node(node.name)
        return 1
    return 0


def reinfer(graph: Graph) -> None:
    """Re-infer every value's type from the registry, in topological order: a rewrite
    may change a kind downstream (removing ``* 0.125`` turns graded values back into counts)."""
    for node in graph.nodes:
        for want in infer_outputs(node, graph.ins(node)):
            have = graph.values[want.name]
            have.shape, have.dtype, have.kind, have.axes = want.shape, want.dtype, want.kind, want.axes


def keep_output_names(graph: Graph, names: list[str]) -> Graph:
    """``graph`` with its outputs named ``names`` again (a pass that folded away the node
    making output ``y`` left ``y``'s readers on another value): those values are renamed."""
    mapping = {new: old for new, old in zip(graph.outputs, names) if new != old}
    if not mapping:
        return graph
    return rename_values(graph, mapping)


def rename_values(graph: Graph, mapping: dict[str, str]) -> Graph:
    """A copy of ``graph`` whose values ``mapping`` renames (node names unchanged)."""
    def name(v: str) -> str:
        return mapping.get(v, v)

    out = Graph(graph.name)
    out.meta = dict(graph.meta)
    for v in graph.inputs:
        out.add_input(_renamed(graph.values[v], name(v)))
    for node in graph.nodes:
        out.add_node(Node(node.name, node.op, [name(v) for v in node.inputs], [name(v) for v in node.outputs],
                          dict(node.attrs), dict(node.params), node.source),
                     [_renamed(graph.values[v], name(v)) for v in node.outputs])
    out.outputs = [name(v) for v in graph.outputs]
    return out


def _renamed(v: Value, name: str) -> Value:
    return Value(name, v.shape, v.dtype, v.kind, v.axes)


def outcomes(graph: Graph, log: RewriteLog) -> list[tuple[str, str, str | None]]:
    """``(node, rule, reason)`` per candidate, in ``graph``'s order (a node's last event:
    None when rewritten, else why it stays); nodes a rule added come last, in log order."""
    last = {e.node: e for e in log.events}
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    events = sorted(last.values(), key=lambda e: order.get(e.node, len(order)))
    return [(e.node, e.rule, e.reason) for e in events]


def run_rule_pass(graph: Graph, rules, log, *, applied: str, left: str | None = "left",
                  reinfer_kinds: bool = True) -> Graph:
    """A pass made of ``rules``: applied to fixpoint on a copy of ``graph``; ``log`` (the
    pass's :class:`~snnc.passes.manager.PassLog`) counts each rewrite as ``applied`` and
    lists every candidate left with its reason (in graph order; the counts always show
    ``applied`` first, then ``left``); kinds are re-inferred and graph outputs keep their
    names."""
    from snnc.ir.rewrite import apply_rules

    g, rewrites = apply_rules(graph, rules)
    log.counts.setdefault(applied, 0)
    if left is not None:
        log.counts.setdefault(left, 0)
    for node, _, reason in outcomes(graph, rewrites):
        if reason is None:
            log.add(applied)
        else:
            log.leave(node, reason)
    if reinfer_kinds:
        reinfer(g)
    return keep_output_names(g, graph.outputs)
