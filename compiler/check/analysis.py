"""The graph walks every rule shares: where a value comes from, what lies above and below.

Three questions decide whether a layer is spike-driven:

- **What made its input?** :meth:`Analysis.origins` walks back from a value through ops
  that only move or select values (the ``SPIKE_PRESERVING`` trait: reshape, transpose,
  max-pool, concat, slice…; time-boundary ops that keep the kind, e.g. ``repeat_time``;
  elementwise ops that map every level of their input onto itself, e.g. ReLU of spikes)
  to the nodes that *made* it, and to the graph inputs it comes from.
- **Which values did the problem flow through?** :meth:`Analysis.chain` lists the nodes
  that produced an offending value, back to the nearest layer (included) or spiking
  neuron (excluded: its spikes are fine).
- **Is a layer the classification head?** A layer is a head when no spiking neuron and no
  other layer lies below it on any path, and it reaches a graph output: what follows the
  last neuron on the way out (Spikingformer Eq. 14, ``FC(AvgPooling(X_L))``).

"Layers" are the synaptic ops (``SYNAPTIC``: conv, conv_transpose, linear) and the
attention products (``matmul`` of two dynamic tensors, Spikformer's ``Q Kᵀ V``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from snnc.ir.graph import Graph, Node, Value
from snnc.ir.kinds import Kind
from snnc.ir.registry import (ELEMENTWISE, NEURON, REGISTRY, SPIKE_PRESERVING, SYNAPTIC, TEMPORAL,
                               TIME_BOUNDARY, ops_with)

#: products of two dynamic tensors: no weights, but a layer's worth of multiply-accumulates
#: (``spiking_matmul``: ECMT Theorem 2, spike-driven when both operands are graded spikes)
ATTENTION_PRODUCTS = frozenset({"matmul", "spiking_matmul"})
#: ECMT's ops whose outputs are analog streams (running means and their deltas)
CONVERSION_ANALOG = frozenset({"cum_mean", "delta", "spiking_matmul"})
#: the op whose count(k) output is the spike + spike residual (Spikingformer Eq. 3)
RESIDUAL_OPS = frozenset({"add"})
# a kind no op makes by accident: probes whether a kind rule passes kinds through
_PROBE_KIND = Kind.of([0.0, 0.3, 7.0])
# past this many levels, testing an elementwise op level by level is not worth it
_MAX_PROBE_LEVELS = 64


def is_event(kind: Kind) -> bool:
    """Values a synapse can take without a multiplier: every nonzero has the same magnitude
    (spikes {0,1}, signed {-1,0,1}, or spikes scaled by a constant c, which folds into the
    weights)."""
    if kind.levels is None:
        return False
    return len({abs(v) for v in kind.levels if v != 0}) <= 1


def is_spikes(kind: Kind, origins: "Origins") -> bool:
    """Events, or the graded spikes of multi-threshold neurons (``graded(levels=n)``: one
    signed ±θ·gap^k per step, a weight shift-and-add, ECMT Eq. 13), made by neurons only."""
    if not origins.from_neurons:
        return False
    return is_event(kind) or kind.is_graded_spike or kind.levels is not None


@dataclass(frozen=True)
class Origins:
    """The nodes that made a value (past every pass-through op) and the graph inputs it
    comes from; constants are left out."""

    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]

    @property
    def from_neurons(self) -> bool:
        """Made by spiking neurons only, through pass-through ops only."""
        neurons = ops_with(NEURON)
        return bool(self.nodes) and not self.inputs and all(n.op in neurons for n in self.nodes)

    def residual_adds(self) -> list[Node]:
        return [n for n in self.nodes if n.op in RESIDUAL_OPS]


class Analysis:
    """Facts about one graph that the rules read; computed once, lazily."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.neuron_ops = ops_with(NEURON)
        self.synaptic_ops = ops_with(SYNAPTIC)
        self.layer_ops = self.synaptic_ops | ATTENTION_PRODUCTS
        self.order = {node.name: i for i, node in enumerate(graph.nodes)}
        self._origins: dict[str, Origins] = {}

    # -- what a node is ------------------------------------------------------------
    def is_neuron(self, node: Node) -> bool:
        return node.op in self.neuron_ops

    def is_layer(self, node: Node) -> bool:
        return node.op in self.layer_ops

    @cached_property
    def layers(self) -> list[Node]:
        return [n for n in self.graph.nodes if self.is_layer(n)]

    def operands(self, node: Node) -> list[str]:
        """The dynamic inputs of a layer (a constant operand of a matmul acts as weights)."""
        dynamic = [v for v in node.inputs if not self.graph.values[v].is_const]
        return dynamic or list(node.inputs)

    def passes_through(self, node: Node) -> bool:
        """True when ``node`` only moves or selects the values it reads."""
        opdef = REGISTRY.get(node.op)
        if opdef is None:
            return False
        if opdef.has(SPIKE_PRESERVING):
            return True
        ins = [v for v in self.graph.ins(node) if not v.is_const]
        if len(ins) != 1 or len(node.outputs) != 1:
            return False
        if opdef.has(TIME_BOUNDARY):          # repeat_time, select_time: same values, other axes
            return _keeps_any_kind(opdef, node, ins[0])
        if opdef.has(ELEMENTWISE) and len(node.inputs) == 1:
            return _identity_on_levels(opdef, node, ins[0].kind)
        return False

    # -- walks ----------------------------------------------------------------------
    @staticmethod
    def _walk_back(value: str, visit) -> None:
        """Depth-first over the values behind ``value``, each once; ``visit(name)`` returns
        the values to go on to."""
        stack, seen = [value], set()
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(visit(name))

    def origins(self, value: str) -> Origins:
        if value not in self._origins:
            nodes: dict[str, Node] = {}
            inputs: list[str] = []

            def visit(name: str):
                producer = self.graph.producer(name)
                if producer is None:
                    if name in self.graph.inputs:
                        inputs.append(name)
                elif self.graph.values[name].is_const:
                    pass
                elif self.passes_through(producer):
                    return producer.inputs
                else:
                    nodes[producer.name] = producer
                return ()

            self._walk_back(value, visit)
            self._origins[value] = Origins(tuple(sorted(nodes.values(), key=lambda n: self.order[n.name])),
                                           tuple(sorted(inputs)))
        return self._origins[value]

    def chain(self, value: str, *, through_events: bool = False) -> list[Node]:
        """The nodes that produced ``value``, in data-flow order: walk back through every
        producer, stopping at layers (kept: the value started there) and at spiking neurons
        and constants (left out). Unless ``through_events``, values that are events
        (:func:`is_event`) end the walk too: they are not part of the problem."""
        found: dict[str, Node] = {}

        def visit(name: str):
            v = self.graph.values[name]
            producer = self.graph.producer(name)
            if producer is None or v.is_const or self.is_neuron(producer):
                return ()
            if name != value and not through_events and is_event(v.kind):
                return ()
            found[producer.name] = producer
            return () if self.is_layer(producer) else producer.inputs

        self._walk_back(value, visit)
        return sorted(found.values(), key=lambda n: self.order[n.name])

    def compensated(self, node: Node) -> bool:
        """Is ``node`` inside an expectation compensation (ECMT Theorem 1): every path back
        from it reaches a ``cum_mean`` and every path on reaches a ``delta``, through
        stateless ops only (no neuron, layer, time op or graph input/output on the way)?"""
        def stateless(n: Node) -> bool:
            if n.op == "constant":
                return False
            opdef = REGISTRY.get(n.op)
            return opdef is not None and not opdef.has(TEMPORAL) and not self.is_neuron(n) \
                and not self.is_layer(n)

        def back(n: Node, seen: set) -> bool:
            for v in n.inputs:
                p = self.graph.producer(v)
                if p is None:
                    if v in self.graph.inputs:
                        return False
                    continue
                if self.graph.values[v].is_const or p.op == "cum_mean" or p.name in seen:
                    continue
                seen.add(p.name)
                if not stateless(p) or not back(p, seen):
                    return False
            return True

        def forward(n: Node, seen: set) -> bool:
            if any(o in self.graph.outputs for o in n.outputs):
                return False
            for u in self._users(n):
                if u.op == "delta" or u.name in seen:
                    continue
                seen.add(u.name)
                if not stateless(u) or not forward(u, seen):
                    return False
            return bool(self._users(n))

        return stateless(node) and back(node, set()) and forward(node, set())

    # -- above and below ------------------------------------------------------------
    def _users(self, node: Node) -> list[Node]:
        return [u for out in node.outputs for u in self.graph.users(out)]

    def _producers(self, node: Node) -> list[Node]:
        return [p for v in node.inputs if (p := self.graph.producer(v)) is not None]

    @cached_property
    def compute_below(self) -> dict[str, bool]:
        """node -> a spiking neuron or a layer lies strictly below it."""
        below: dict[str, bool] = {}
        for node in reversed(self.graph.nodes):
            below[node.name] = any(self.is_neuron(u) or self.is_layer(u) or below[u.name]
                                   for u in self._users(node))
        return below

    @cached_property
    def compute_above(self) -> dict[str, bool]:
        """node -> a spiking neuron or a layer lies strictly above it."""
        above: dict[str, bool] = {}
        for node in self.graph.nodes:
            above[node.name] = any(self.is_neuron(p) or self.is_layer(p) or above[p.name]
                                   for p in self._producers(node))
        return above

    @cached_property
    def reaches_output(self) -> dict[str, bool]:
        outputs = set(self.graph.outputs)
        reach: dict[str, bool] = {}
        for node in reversed(self.graph.nodes):
            reach[node.name] = any(o in outputs for o in node.outputs) or \
                any(reach[u.name] for u in self._users(node))
        return reach

    @cached_property
    def heads(self) -> frozenset[str]:
        """Layers with no neuron and no layer below them that reach a graph output."""
        return frozenset(n.name for n in self.layers
                         if not self.compute_below[n.name] and self.reaches_output[n.name])

    def core_below(self, excluded: frozenset[str]) -> dict[str, bool]:
        """node -> a spiking neuron, or a layer not in ``excluded``, lies strictly below."""
        below: dict[str, bool] = {}
        for node in reversed(self.graph.nodes):
            below[node.name] = any(self.is_neuron(u) or (self.is_layer(u) and u.name not in excluded)
                                   or below[u.name] for u in self._users(node))
        return below


def _keeps_any_kind(opdef, node: Node, value: Value) -> bool:
    """Does the op's kind rule give back whatever kind it is given? (repeat_time and
    select_time do; mean_time and sum_time make new values.) Probed with an odd kind."""
    probe = Value(value.name, value.shape, value.dtype, _PROBE_KIND, value.axes)
    try:
        return opdef.kind(node, [probe]) == [_PROBE_KIND]
    except (ValueError, TypeError, KeyError, IndexError):
        return False


def _identity_on_levels(opdef, node: Node, kind: Kind) -> bool:
    """Run the op's numpy reference on each level of ``kind``: does it map each onto itself?
    (ReLU, Clip[0, 1], Abs of spikes: yes; Neg, Sigmoid: no.)"""
    if kind.levels is None or len(kind.levels) > _MAX_PROBE_LEVELS:
        return False
    levels = np.array(sorted(kind.levels), dtype=np.float32)   # [B] with B = one sample per level
    with np.errstate(all="ignore"):
        try:
            out = np.asarray(opdef.run(node, [levels])[0])
        except (ValueError, TypeError, KeyError, IndexError):
            return False
    return out.shape == levels.shape and np.array_equal(out.astype(np.float32), levels)
