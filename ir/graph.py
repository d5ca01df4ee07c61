"""The spiking IR: :class:`Value`, :class:`Node` and :class:`Graph`.

Time is implicit. A value is what one sample carries at one time step; its ``shape``
has neither a time nor a batch axis. ``axes`` says which implicit axes it has at run
time:

- ``"TN"``: one value per time step per sample (the spiking part of a network);
- ``"N"``: one value per sample, outside time (a static image before a repeat encoder,
  a rate after a mean-over-time decoder, every value of an ANN);
- ``""``: a constant, the same for every sample and step.

Every node runs once per time step when it reads a ``"TN"`` value, once per sample
otherwise; stateful ops (neurons) keep state across steps. The graph is a DAG kept in a
:class:`networkx.MultiDiGraph` (one edge per value read, keyed by the value's name),
listed in a stable topological order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import networkx as nx
import numpy as np

from snnc.ir.errors import IRError
from snnc.ir.kinds import ANALOG, Kind
from snnc.ir.registry import REGISTRY

AXES = ("TN", "N", "")


@dataclass
class Value:
    """A tensor edge: per-sample, per-step ``shape``, element ``dtype`` and spike ``kind``."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    kind: Kind = ANALOG
    axes: str = "TN"

    def __post_init__(self):
        self.shape = tuple(int(d) for d in self.shape)
        if self.axes not in AXES:
            raise ValueError(f"value {self.name}: axes must be one of {AXES}, got {self.axes!r}")

    @property
    def timed(self) -> bool:
        return self.axes == "TN"

    @property
    def is_const(self) -> bool:
        return self.axes == ""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(eq=False)
class Node:
    """One op application. ``name`` is stable (from the source file) and used in every
    diagnostic; ``source`` is the name of the ONNX node it came from.

    ``attrs`` is complete: every attribute the op's :class:`~snnc.ir.registry.OpDef`
    declares with a default is filled in when the node is built (and again when it is
    added to a graph, should a pass have replaced ``attrs`` meanwhile), so readers write
    ``node.attrs["x"]`` and each default lives only in its OpDef."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        _complete(self)

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.op}, {self.inputs} -> {self.outputs})"

    def same_as(self, other: Node) -> bool:
        """Structural equality, parameters compared by value."""
        return (self.name, self.op, self.inputs, self.outputs, self.source) == \
            (other.name, other.op, other.inputs, other.outputs, other.source) \
            and _attrs_equal(self.attrs, other.attrs) \
            and self.params.keys() == other.params.keys() \
            and all(self.params[k].dtype == other.params[k].dtype
                    and np.array_equal(self.params[k], other.params[k]) for k in self.params)


def _complete(node: Node) -> None:
    """Fill ``node.attrs`` from its op's defaults (a new dict: the caller's stays as it was).
    An unregistered op is left for the verifier to name."""
    opdef = REGISTRY.get(node.op)
    if opdef is not None and any(n not in node.attrs for n in opdef.attrs):
        node.attrs = opdef.complete(node.attrs)


def _attrs_equal(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(_norm(a[k]) == _norm(b[k]) for k in a)


def _norm(v):
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


class Graph:
    """A DAG of :class:`Node` over a ``networkx.MultiDiGraph``, with named inputs/outputs.

    Node names and value names are unique. Nodes are added in any order that respects
    their dependencies' existence; :attr:`nodes` lists them topologically (ties keep
    insertion order), so a printed graph reads like the source.
    """

    def __init__(self, name: str = "main"):
        self.name = name
        self.values: dict[str, Value] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.meta: dict[str, Any] = {}
        self._g = nx.MultiDiGraph()
        self._producer: dict[str, str] = {}
        self._users: dict[str, list[str]] = {}
        self._seq = 0
        self._order: list[Node] | None = None

    # -- building -------------------------------------------------------------
    def add_value(self, value: Value) -> Value:
        if value.name in self.values:
            raise ValueError(f"value {value.name!r} defined twice")
        self.values[value.name] = value
        self._users.setdefault(value.name, [])
        return value

    def add_input(self, value: Value) -> Value:
        self.add_value(value)
        self.inputs.append(value.name)
        return value

    def add_node(self, node: Node, outputs: Iterable[Value] = ()) -> Node:
        """Add ``node`` and the ``outputs`` values it defines (if not added already)."""
        if node.name in self._g:
            raise ValueError(f"node {node.name!r} defined twice")
        _complete(node)
        opdef = REGISTRY.get(node.op)
        problems = opdef.attr_problems(node.attrs) if opdef is not None else []
        if problems:
            raise IRError(f"node {node.name!r} ({node.op}): " + "; ".join(problems))
        for value in outputs:
            self.add_value(value)
        for name in node.inputs:
            if name not in self.values:
                raise ValueError(f"node {node.name!r} reads undefined value {name!r}")
        for name in node.outputs:
            if name not in self.values:
                raise ValueError(f"node {node.name!r} writes value {name!r} without a Value")
            if name in self._producer:
                raise ValueError(f"value {name!r} written by both {self._producer[name]!r} and {node.name!r}")
        self._g.add_node(node.name, node=node, seq=self._seq)
        self._seq += 1
        for name in node.outputs:
            self._producer[name] = node.name
            for user in dict.fromkeys(self._users[name]):   # readers added before their producer
                for idx, read in enumerate(self.node(user).inputs):
                    if read == name:
                        self._g.add_edge(node.name, user, key=f"{name}#{idx}", value=name, index=idx)
        for idx, name in enumerate(node.inputs):
            self._users[name].append(node.name)
            if name in self._producer:
                self._g.add_edge(self._producer[name], node.name, key=f"{name}#{idx}", value=name, index=idx)
        self._order = None
        return node

    def remove_node(self, name: str, *, drop_outputs: bool = True) -> Node:
        node = self.node(name)
        for out in node.outputs:
            if self._users.get(out) and drop_outputs:
                raise ValueError(f"cannot remove {name!r}: {out!r} is still read by {self._users[out]}")
            del self._producer[out]
            if drop_outputs:
                del self.values[out]
                del self._users[out]
        for inp in node.inputs:
            self._users[inp].remove(name)
        self._g.remove_node(name)
        self._order = None
        return node

    def replace_uses(self, old: str, new: str, *, exclude: Iterable[str] = ()) -> None:
        """Make every reader of value ``old`` (and the graph outputs) read ``new``, except
        the nodes named in ``exclude`` (typically the node that computes ``new`` from ``old``)."""
        skip = set(exclude)
        for user in list(dict.fromkeys(self._users.get(old, []))):
            if user in skip:
                continue
            node = self.node(user)
            for idx, name in enumerate(node.inputs):
                if name == old:
                    node.inputs[idx] = new
                    self._users[old].remove(user)
                    self._users[new].append(user)
                    if old in self._producer:
                        self._g.remove_edge(self._producer[old], user, key=f"{old}#{idx}")
                    if new in self._producer:
                        self._g.add_edge(self._producer[new], user, key=f"{new}#{idx}", value=new, index=idx)
        self.outputs = [new if o == old else o for o in self.outputs]
        self._order = None

    # -- reading ----------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        if self._order is None:
            seq = nx.get_node_attributes(self._g, "seq")
            order = nx.lexicographical_topological_sort(self._g, key=seq.__getitem__)
            self._order = [self._g.nodes[n]["node"] for n in order]
        return self._order

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __contains__(self, name: str) -> bool:
        return name in self._g

    def node(self, name: str) -> Node:
        try:
            return self._g.nodes[name]["node"]
        except KeyError:
            raise KeyError(f"no node named {name!r}") from None

    def producer(self, value: str) -> Node | None:
        name = self._producer.get(value)
        return None if name is None else self.node(name)

    def users(self, value: str) -> list[Node]:
        return [self.node(n) for n in dict.fromkeys(self._users.get(value, []))]

    def ins(self, node: Node) -> list[Value]:
        return [self.values[v] for v in node.inputs]

    def outs(self, node: Node) -> list[Value]:
        return [self.values[v] for v in node.outputs]

    @property
    def nx(self) -> nx.MultiDiGraph:
        """The underlying networkx graph (nodes keyed by name, edges keyed by value)."""
        return self._g

    # -- whole-graph ----------------------------------------------------------
    def copy(self) -> Graph:
        """A structural copy: new nodes and values, parameter arrays shared (read-only by
        convention: passes replace arrays, never write into them)."""
        out = Graph(self.name)
        out.meta = dict(self.meta)
        for name in self.inputs:
            out.add_input(_copy_value(self.values[name]))
        for value in self.values.values():
            if value.name not in out.values:
                out.add_value(_copy_value(value))
        for node in self.nodes:
            out.add_node(Node(node.name, node.op, list(node.inputs), list(node.outputs),
                              dict(node.attrs), dict(node.params), node.source))
        out.outputs = list(self.outputs)
        return out

    def same_as(self, other: Graph) -> bool:
        """Equal structure, values, attributes and parameters (what a round trip keeps)."""
        if (self.name, self.inputs, self.outputs) != (other.name, other.inputs, other.outputs):
            return False
        if self.meta != other.meta or self.values.keys() != other.values.keys():
            return False
        if any(self.values[k] != other.values[k] for k in self.values):
            return False
        mine, theirs = self.nodes, other.nodes
        return len(mine) == len(theirs) and all(a.same_as(b) for a, b in zip(mine, theirs))

    def fresh_name(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``… : a name no node or value has yet."""
        return first_free(base, lambda name: name in self._g or name in self.values)


def first_free(base: str, taken) -> str:
    """``base``, or ``base_1``, ``base_2``…: the first name for which ``taken(name)`` is false."""
    name, i = base, 0
    while taken(name):
        i += 1
        name = f"{base}_{i}"
    return name


def _copy_value(v: Value) -> Value:
    return Value(v.name, v.shape, v.dtype, v.kind, v.axes)
