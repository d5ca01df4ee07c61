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

Each pass is a rule set on :mod:`snnc.ir.rewrite` (``dead``; ``no-op``; ``fold-constant``
and ``merge-reshapes``), applied to fixpoint; the pass log is read off the rewrite log in
graph order.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.registry import TEMPORAL, get
from snnc.ir.rewrite import Match, Pat, Rule, apply_rules
from snnc.passes.manager import PassLog, register
from snnc.passes.rewrite import bypass, can_bypass, drop_if_unused, keep_output_names, reinfer, \
    rename_values, replace_with, run_rule_pass


def _is_dead(graph: Graph, node: Node) -> bool:
    return not any(graph.users(v) or v in graph.outputs for v in node.outputs)


def _remove(graph: Graph, m: Match) -> None:
    graph.remove_node(m.root.name)


#: a node none of whose outputs is read or returned goes; what it read may then go too
DEAD = Rule("dead", Pat(where=_is_dead), _remove)


@register("dce")
def dce(graph: Graph, log: PassLog | None = None) -> Graph:
    """Remove nodes whose outputs nothing reads and the graph does not return."""
    log = log if log is not None else PassLog("dce")
    # a dead chain of n nodes loses its last node per sweep: n + 1 sweeps at most
    g, rewrites = apply_rules(graph, [DEAD], max_sweeps=len(graph) + 2)
    log.add("removed", rewrites.count("dead"))
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


def _why_not_bypass(graph: Graph, m: Match) -> str | None:
    if can_bypass(graph, m.root.outputs[0], m.root.inputs[0]):
        return None
    return "it returns a graph input or another output under a second name"


NOOP = Rule("no-op", Pat(where=is_noop), lambda g, m: bypass(g, m.root, m.root.inputs[0]), check=_why_not_bypass)


@register("remove-identity")
def remove_identity(graph: Graph, log: PassLog | None = None) -> Graph:
    """Remove identity, inference dropout, no-op casts, reshapes and transposes."""
    log = log if log is not None else PassLog("remove-identity")
    return run_rule_pass(graph, [NOOP], log, applied="removed", left=None)


def _evaluate(graph: Graph, node: Node) -> list[np.ndarray]:
    """Run ``node`` on its constant inputs with the registry's numpy reference."""
    args = [graph.producer(v).params["value"][None] for v in node.inputs]
    return [np.array(np.asarray(r)[0]) for r in get(node.op).run(node, args)]


def _on_constants(graph: Graph, node: Node) -> bool:
    """A stateless one-output op whose every input is a constant's (and which is not one)."""
    if node.op == "constant" or get(node.op).has(TEMPORAL) or len(node.outputs) != 1 or not node.inputs:
        return False
    return all(p is not None and p.op == "constant" for p in map(graph.producer, node.inputs))


#: a reshape reading, alone, another reshape
RESHAPES = Pat("reshape", name="outer", inputs=[Pat("reshape", name="inner", single_use=True)])


@register("fold-constants")
def fold_constants(graph: Graph, log: PassLog | None = None) -> Graph:
    """Evaluate ops on constants only; merge consecutive reshapes."""
    log = log if log is not None else PassLog("fold-constants")
    renamed = {}        # temporary output name -> the name it takes back once the rules are done

    def fold(g: Graph, m: Match) -> None:
        node = m.root
        producers = [g.producer(v) for v in node.inputs]
        value = _evaluate(g, node)[0].astype(g.values[node.outputs[0]].dtype, copy=False)
        temp, out = replace_with(g, node, "constant", [], params={"value": value})
        renamed[temp] = out
        for p in producers:
            drop_if_unused(g, p.outputs[0])

    def merge(g: Graph, m: Match) -> None:
        outer, inner = m["outer"], m["inner"]
        temp, out = replace_with(g, outer, "reshape", [inner.inputs[0]], attrs=dict(outer.attrs))
        renamed[temp] = out
        g.remove_node(inner.name)

    rules = [Rule("fold-constant", Pat(where=_on_constants), fold), Rule("merge-reshapes", RESHAPES, merge)]
    g, rewrites = apply_rules(graph, rules)
    for event in rewrites.applied:
        log.add("folded" if event.rule == "fold-constant" else "reshapes_merged")
    for key in ("folded", "reshapes_merged"):
        log.counts.setdefault(key, 0)
    reinfer(g)
    return keep_output_names(rename_values(g, renamed), graph.outputs)
