"""Declarative graph rewrites: patterns, rules, and a driver that applies them to fixpoint.

In the spirit of tinygrad's ``PatternMatcher``/``UPat`` and torch.fx's subgraph
rewriter, small enough to read in one sitting:

- a :class:`Pat` matches one node and, recursively, the producers of its inputs; every
  ``name=`` it carries binds the matched node in a :class:`Match` (a dict);
- a :class:`Rule` is ``(name, pattern, rewrite, check)``: ``check(graph, match)`` returns
  why the candidate cannot be rewritten (a string) or None; ``rewrite(graph, match)``
  mutates the graph in place (:func:`snnc.ir.build.emit`, ``Graph.replace_uses``,
  ``Graph.remove_node``) and returns None, or declines with a reason *without* having
  mutated anything;
- :func:`apply_rules` works on a copy, sweeps the nodes in topological order trying
  each rule in turn, and repeats until a sweep changes nothing (bounded: an
  :class:`~snnc.ir.errors.IRError` when it does not converge). The :class:`RewriteLog`
  holds every application and every declined candidate with its reason.

    # before -> after
    %y = mul(%x, %one) {one = 1}          ->   (readers of %y read %x)

    def drop(g, m):
        g.replace_uses(m["mul"].outputs[0], m["mul"].inputs[0])
        g.remove_node(m["mul"].name)

    ONE = Rule("mul-by-one", Pat("mul", inputs=[None, Pat(const=True, name="one")], name="mul"),
               drop, check=lambda g, m: None if np.all(m["one"].params["value"] == 1) else "not 1")
    graph, log = apply_rules(graph, [ONE])

This module imports nothing of snnc outside :mod:`snnc.ir`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from snnc.ir.errors import IRError
from snnc.ir.graph import Graph, Node
from snnc.ir.kinds import Kind
from snnc.ir.registry import ops_with


class Match(dict):
    """Binding name -> matched :class:`Node`; ``root`` is the node the pattern started at."""

    def __init__(self, root: Node):
        super().__init__()
        self.root = root

    def __bool__(self) -> bool:         # a match without bindings is still a match
        return True


@dataclass(frozen=True)
class Pat:
    """A node pattern. Every field given must hold:

    - ``op``: an op name, or a set of them; ``trait``: the op has this registry trait;
    - ``kind`` / ``shape``: predicates on the first output value's spike kind / shape;
    - ``inputs``: one entry per input of the node (the count must be equal), each a
      :class:`Pat` for the producer of that input (a graph input has none, so fails) or
      None for "anything";
    - ``single_use``: the node's outputs are read exactly once in all (by the node the
      enclosing pattern matched, when there is one) and none is a graph output;
    - ``const``: the node is a ``constant``;
    - ``where(graph, node)``: any other predicate.

    ``name`` binds the node; a name bound twice must bind the same node (a diamond).
    """

    op: str | frozenset[str] | set[str] | None = None
    trait: str | None = None
    kind: Callable[[Kind], bool] | None = None
    shape: Callable[[tuple[int, ...]], bool] | None = None
    inputs: list[Pat | None] | tuple[Pat | None, ...] | None = None
    name: str | None = None
    single_use: bool = False
    const: bool = False
    where: Callable[[Graph, Node], bool] | None = None

    def match(self, graph: Graph, node: Node) -> Match | None:
        """The bindings when ``node`` (and its producers) match, else None."""
        m = Match(node)
        return m if self._match(graph, node, None, m) else None

    def _match(self, graph: Graph, node: Node, reader: Node | None, m: Match) -> bool:
        if self.op is not None and node.op not in ({self.op} if isinstance(self.op, str) else self.op):
            return False
        if self.trait is not None and node.op not in ops_with(self.trait):
            return False
        if self.const and node.op != "constant":
            return False
        if (self.kind is not None or self.shape is not None) and not node.outputs:
            return False
        out = graph.values[node.outputs[0]] if node.outputs else None
        if self.kind is not None and not self.kind(out.kind):
            return False
        if self.shape is not None and not self.shape(out.shape):
            return False
        if self.single_use and not single_use(graph, node, reader):
            return False
        if self.where is not None and not self.where(graph, node):
            return False
        if self.name is not None:
            if m.get(self.name, node) is not node:
                return False
            m[self.name] = node
        if self.inputs is None:
            return True
        if len(self.inputs) != len(node.inputs):
            return False
        for value, sub in zip(node.inputs, self.inputs):
            if sub is None:
                continue
            producer = graph.producer(value)
            if producer is None or not sub._match(graph, producer, node, m):
                return False
        return True


def single_use(graph: Graph, node: Node, reader: Node | None = None) -> bool:
    """Whether ``node``'s outputs are read exactly once in all (by ``reader`` when given)
    and none is a graph output."""
    if any(v in graph.outputs for v in node.outputs):
        return False
    reads = [u for v in node.outputs for u in graph.users(v) for _ in range(u.inputs.count(v))]
    return len(reads) == 1 and (reader is None or reads[0] is reader)


Rewrite = Callable[[Graph, Match], "str | None"]


@dataclass(frozen=True)
class Rule:
    """``rewrite`` the graph wherever ``pattern`` matches and ``check`` finds no reason not to."""

    name: str
    pattern: Pat
    rewrite: Rewrite
    check: Rewrite | None = None

    def attempt(self, graph: Graph, match: Match) -> str | None:
        """Apply to one match: None when rewritten, else the reason it declined."""
        reason = self.check(graph, match) if self.check is not None else None
        reason = reason if reason is not None else self.rewrite(graph, match)
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"rule {self.name!r} returned {type(reason).__name__}: None or a reason string")
        return reason


@dataclass(frozen=True)
class Event:
    """One candidate: ``rule`` matched at ``node`` in sweep ``sweep``; ``reason`` is None
    when the rule rewrote it, else why it declined."""

    sweep: int
    rule: str
    node: str
    reason: str | None = None

    def __str__(self) -> str:
        what = "applied" if self.reason is None else f"declined: {self.reason}"
        return f"[{self.sweep}] {self.rule} at {self.node!r}: {what}"


@dataclass
class RewriteLog:
    """Everything :func:`apply_rules` did: ``events`` in order (every sweep), ``declined``
    (the candidates of the final sweep, which rewrote nothing: what is left and why)."""

    events: list[Event] = field(default_factory=list)
    declined: list[Event] = field(default_factory=list)
    sweeps: int = 0

    @property
    def applied(self) -> list[Event]:
        return [e for e in self.events if e.reason is None]

    def count(self, rule: str | None = None) -> int:
        """How many rewrites ``rule`` (every rule when None) made."""
        return sum(1 for e in self.applied if rule is None or e.rule == rule)

    def lines(self) -> list[str]:
        return [str(e) for e in self.applied] + [str(e) for e in self.declined]


def matches(graph: Graph, pattern: Pat) -> list[Match]:
    """Every match of ``pattern`` rooted at a node of ``graph``, in topological order."""
    return [m for m in (pattern.match(graph, n) for n in graph.nodes) if m is not None]


def apply_rules(graph: Graph, rules: Iterable[Rule], log: RewriteLog | None = None, *,
                max_sweeps: int = 50) -> tuple[Graph, RewriteLog]:
    """Apply ``rules`` to a copy of ``graph`` until a sweep rewrites nothing; returns the
    new graph and the log (``log`` if given, appended to).

    One sweep visits the nodes present at its start in topological order (skipping those
    an earlier rewrite removed or replaced) and tries the rules in order at each; the
    first that rewrites ends the node's turn. Raises :class:`IRError` when the rules still
    rewrite something after ``max_sweeps`` sweeps (two rules undoing each other)."""
    rules = list(rules)
    log = log if log is not None else RewriteLog()
    g = graph.copy()
    for sweep in range(1, max_sweeps + 1):
        log.sweeps += 1
        declined: list[Event] = []
        changed = False
        for node in list(g.nodes):
            if node.name not in g or g.node(node.name) is not node:
                continue
            for rule in rules:
                m = rule.pattern.match(g, node)
                if m is None:
                    continue
                reason = rule.attempt(g, m)
                event = Event(sweep, rule.name, node.name, reason)
                log.events.append(event)
                if reason is None:
                    changed = True
                    break
                declined.append(event)
        if not changed:
            log.declined = declined
            return g, log
    recent = ", ".join(f"{e.rule} at {e.node!r}" for e in log.applied[-3:])
    raise IRError(f"rewrite rules did not converge after {max_sweeps} sweeps (last: {recent})")
