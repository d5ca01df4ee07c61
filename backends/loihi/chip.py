"""What of a quantised graph runs on the chip, what on the host, and in which neuron order.

No Lava here: this is the plan the Lava lowering (and the core mapping) follows.

**Regions.** Chip nodes are ``loihi_dense``, ``loihi_conv``, ``loihi_lif``, ``loihi_mt`` and reshapes of
chip values (a reshape moves no data: it renames neurons). Everything else is host: the
host nodes that do not depend on the chip run before it (input encoding, repeat over
time) and feed it through sources; those that read chip outputs run after it (decoders,
a float head). A host node between two chip layers (a residual add, attention's
products of two spike tensors, a float neuron) runs inside the Lava run as a process of
its own (``p.host``, listed in ``p.chip`` in program order): it reads chip values through
ports and sends what the chip reads back, in the same step.

**Sums of spikes.** An ``add`` of two chip spike streams (a residual add) is on the chip:
its readers' input ports are connected to both streams, which Lava sums (graded spikes).
So is an ``add`` of two synapses' outputs read by a chip neuron (a dendritic sum: the
neuron's in-port is connected to both synapses).

**Layouts.** Lava's Conv works on ``(W, H, C)`` tensors (C order: channels vary fastest),
snnc on ``(C, H, W)``. A batch of N samples runs as one network: convs as N·g groups (their
channels side by side), dense layers as block-diagonal matrices. Every group of chip
values that are the same neurons (a synapse's output, the neuron reading it, reshapes of
its spikes) has one physical order: ``perm[j]`` = the index in snnc's ``[N, *shape]``
(C order) of Lava's j-th neuron. A conv next to the group fixes it (conv layout); a dense
layer adapts to any order by permuting its matrix rows or columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.ir.errors import UnsupportedError
from snnc.ir.graph import Graph, Node
from snnc.ir.ops.common import prod
from snnc.ir.registry import NEURON, SYNAPTIC, TEMPORAL, ops_with

SYNAPSES = ops_with(SYNAPTIC, TEMPORAL)     # loihi_dense, loihi_conv: synapses that see time
#: the chip's neurons: Lava's LIF, and ECMT's multi-threshold neuron (a microcoded Loihi 2
#: neuron sending graded spikes; lava_procs/multi_threshold.py)
CHIP_NEURONS = frozenset({"loihi_lif", "loihi_mt"})
ON_CHIP = frozenset({*SYNAPSES, *CHIP_NEURONS})
ALIASES = frozenset({"reshape"})
#: host ops that never run before the chip, even on host values only: a ``delay`` must see
#: every step of the run, the zero steps ``run_loihi(align=True)`` appends included, so it
#: runs inside the run (as a host process) when the chip reads it
NOT_BEFORE = frozenset({"delay"})
NEURONS = ops_with(NEURON)


@dataclass
class Layout:
    """Lava's shape of a tensor and ``perm``: Lava flat index -> snnc ``[N, *shape]`` index."""

    shape: tuple[int, ...]
    perm: np.ndarray

    def to_lava(self, x: np.ndarray) -> np.ndarray:
        """snnc ``[T, N, *shape]`` -> Lava ``(*self.shape, T)`` (a source's buffer)."""
        t = x.shape[0]
        return x.reshape(t, -1)[:, self.perm].T.reshape(*self.shape, t)

    def from_lava(self, data: np.ndarray, n: int, shape) -> np.ndarray:
        """Lava ``(*self.shape, T)`` (a sink's buffer) -> snnc ``[T, N, *shape]``."""
        t = data.shape[-1]
        out = np.empty((t, self.perm.size), data.dtype)
        out[:, self.perm] = data.reshape(-1, t).T
        return out.reshape(t, n, *shape)


def conv_layout(shape: tuple[int, ...], n: int) -> Layout:
    """``[C, H, W]`` (or ``[C, L]``) per sample -> Lava's ``(W, H, N·C)`` (or ``(L, 1, N·C)``)."""
    index = np.arange(n * prod(shape)).reshape(n, *shape)
    if len(shape) == 3:
        c, h, w = shape
        lava = index.transpose(3, 2, 0, 1).reshape(w, h, n * c)
    elif len(shape) == 2:
        c, length = shape
        lava = index.transpose(2, 0, 1).reshape(length, 1, n * c)
    else:
        raise UnsupportedError(f"a conv over a rank-{len(shape)} tensor {list(shape)}: Lava's Conv is 2-d")
    return Layout(lava.shape, lava.ravel())


def flat_layout(shape: tuple[int, ...], n: int) -> Layout:
    size = n * prod(shape)
    return Layout((size,), np.arange(size))


@dataclass
class ChipPlan:
    """The graph cut into host-before, chip and host-after, and the chip's neuron orders."""

    graph: Graph
    before: list[Node] = field(default_factory=list)
    chip: list[Node] = field(default_factory=list)
    after: list[Node] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)      # host values the chip reads
    probes: list[str] = field(default_factory=list)       # chip values read back
    host: list[str] = field(default_factory=list)         # host nodes between chip layers (in ``chip``)
    host_inputs: list[str] = field(default_factory=list)  # values from before the chip those nodes read
    host_saves: list[str] = field(default_factory=list)   # their values read after the run, and their neurons
    group: dict[str, str] = field(default_factory=dict)   # chip value -> its group's root value

    def _demands(self, n: int) -> dict[str, list[tuple[str, Layout]]]:
        """group root -> the (value, conv layout) each conv next to the group wants."""
        demands: dict[str, list[tuple[str, Layout]]] = {}
        for node in self.chip:
            if node.op == "loihi_conv" and node.name not in self.host:
                for v in (node.inputs[0], node.outputs[0]):
                    demands.setdefault(self.group[v], []).append((v, conv_layout(self.graph.values[v].shape, n)))
        return demands

    def conflicts(self, n: int = 2) -> set[str]:
        """The group roots whose convs want two different neuron orders."""
        return {root for root, wanted in self._demands(n).items()
                if any(not np.array_equal(lay.perm, wanted[0][1].perm) for _, lay in wanted[1:])}

    def layouts(self, n: int) -> dict[str, Layout]:
        """The physical order of every group (keyed by root value) for a batch of ``n``."""
        demands = self._demands(n)
        out = {}
        for root in set(self.group.values()):
            wanted = demands.get(root, [])
            for v, lay in wanted[1:]:
                if not np.array_equal(lay.perm, wanted[0][1].perm):
                    raise UnsupportedError(
                        f"{v!r} {list(self.graph.values[v].shape)} and {wanted[0][0]!r} "
                        f"{list(self.graph.values[wanted[0][0]].shape)} are the same neurons in two conv layouts; "
                        "Lava cannot reorder neurons between convs without a synapse")
            out[root] = wanted[0][1] if wanted else flat_layout(self.graph.values[root].shape, n)
        return out

    def max_groups(self) -> int:
        """The most conv groups one sample needs (Lava stores ``groups`` as int8: N·g <= 127)."""
        return max((n.attrs["group"] for n in self.chip if n.op == "loihi_conv"), default=1)


def plan(graph: Graph) -> ChipPlan:
    """Split ``graph`` into host and chip; raise naming each node that breaks the split.

    A host node whose output reaches a chip layer (a residual add of two spike streams,
    attention's products, a float neuron, a dequantised read-back) runs *inside* the
    Lava run, as a process of its own (``p.host``; :mod:`snnc.backends.loihi.host`); it
    is listed in ``p.chip`` in program order, so the numpy engine runs it in place.

    A sum of spike streams whose streams Lava holds in two neuron orders (a conv2d's
    ``(W, H, C)`` and, reshaped, a conv1d's ``(L, 1, C)``) cannot be summed by a port: it
    runs on the host instead (and so does what it then feeds)."""
    demoted: set[str] = set()
    while True:
        p = _plan(graph, demoted)
        bad = p.conflicts()
        sums = {n.name for n in p.chip if n.op == "add" and n.name not in p.host and p.group.get(n.outputs[0]) in bad}
        if not sums:
            return p
        demoted |= sums


def _plan(graph: Graph, demoted: set[str]) -> ChipPlan:
    p = ChipPlan(graph)
    on_chip: set[str] = set()          # values computed on the chip
    spikes: set[str] = set()           # chip values that are spikes, or sums of spike streams
    after_chip: set[str] = set()       # values computed on the host from chip values
    problems = []
    for node in graph.nodes:
        reads_chip = any(v in on_chip for v in node.inputs)
        reads_after = any(v in after_chip for v in node.inputs)
        chip_node = (node.op in ON_CHIP or (node.op in ALIASES and reads_chip) or dendritic_sum(graph, node)
                     or (node.name not in demoted and _spike_sum(graph, node, spikes)))
        if node.op == "loihi_lif" or (chip_node and node.op not in ON_CHIP and all(v in spikes for v in node.inputs)):
            spikes.update(node.outputs)
        if chip_node:
            if node.op in CHIP_NEURONS:
                src = graph.producer(node.inputs[0])
                if src is None or (src.op not in SYNAPSES and not dendritic_sum(graph, src)):
                    problems.append(f"{node.name!r} ({node.op}) reads {node.inputs[0]!r}, "
                                    "not the output of a loihi_dense/loihi_conv")
            p.chip.append(node)
            on_chip.update(node.outputs)
        elif reads_chip or reads_after or node.op in NOT_BEFORE:
            p.after.append(node)
            after_chip.update(node.outputs)
        else:
            p.before.append(node)
    inner = _between(p)
    for node in inner:
        for v in node.outputs:
            if graph.values[v].axes != "TN":
                problems.append(f"{node.name!r} ({node.op}) runs on the host between chip layers, but its output "
                                f"{v!r} has no time axis: the chip cannot read it step by step")
    if problems:
        raise UnsupportedError(f"graph {graph.name!r} cannot run on Lava ({len(problems)} problems)",
                               problems=problems)
    names = {n.name for n in inner} | {n.name for n in p.chip}
    p.host = [n.name for n in inner]
    p.after = [n for n in p.after if n.name not in names]
    p.chip = [n for n in graph.nodes if n.name in names]
    _group(p, on_chip, {v for n in inner for v in n.outputs})
    return p


def _spike_sum(graph: Graph, node: Node, spikes: set[str]) -> bool:
    """An ``add`` of two chip spike streams of its own shape: Loihi sums every connection
    into an input port, so it is two connections (its readers see graded counts)."""
    return (node.op == "add" and len(set(node.inputs)) == 2 and all(v in spikes for v in node.inputs)
            and all(graph.values[v].shape == graph.values[node.outputs[0]].shape for v in node.inputs))


def dendritic_sum(graph: Graph, node: Node) -> bool:
    """An ``add`` of two synapses' outputs that only chip neurons read: the synapses into
    one compartment (Loihi sums a dendrite's inputs; quant_residual.py's rule)."""
    readers = graph.users(node.outputs[0]) if node.outputs else []
    return (node.op == "add" and len(set(node.inputs)) == 2 and bool(readers)
            and all(r.op in CHIP_NEURONS for r in readers) and node.outputs[0] not in graph.outputs
            and all(graph.producer(v) is not None and graph.producer(v).op in SYNAPSES for v in node.inputs)
            and all(graph.values[v].shape == graph.values[node.outputs[0]].shape for v in node.inputs))


def _between(p: ChipPlan) -> list[Node]:
    """The host nodes (of ``p.after``) whose outputs reach a chip node: they run in the Lava run."""
    chip = {n.name for n in p.chip}
    after = {n.name for n in p.after}
    needed: set[str] = set()
    inner = []
    for node in reversed(p.graph.nodes):
        if node.name in chip:
            needed.update(node.inputs)
        elif node.name in after and any(v in needed for v in node.outputs):
            inner.append(node)
            needed.update(node.inputs)
    return inner[::-1]


def _group(p: ChipPlan, on_chip: set[str], host_made: set[str]) -> None:
    """Union the values that are the same neurons; list sources, probes and what the
    host nodes inside the run read and keep."""
    parent: dict[str, str] = {}

    def find(v: str) -> str:
        while parent.setdefault(v, v) != v:
            v = parent[v]
        return v

    def union(a: str, b: str) -> None:
        parent[find(b)] = find(a)

    g = p.graph
    host = set(p.host)
    for node in p.chip:
        if node.name in host:
            for v in node.inputs:
                if v in on_chip:
                    find(v)
                elif v not in host_made and v not in p.host_inputs:
                    p.host_inputs.append(v)
        elif node.op in SYNAPSES:
            x = node.inputs[0]
            find(x)
            if x not in on_chip and x not in host_made and x not in p.sources:
                p.sources.append(x)
            find(node.outputs[0])
        else:                                   # a neuron, a reshape, a sum of spikes: the same neurons
            for v in node.inputs:
                union(node.inputs[0], v)
            union(node.inputs[0], node.outputs[0])
    p.group = {v: find(v) for v in parent}
    readers_outside = {v for node in p.after for v in node.inputs} | set(g.outputs)
    for node in p.chip:
        for v in node.outputs:
            if node.name in host:
                if v in readers_outside or node.op in NEURONS:      # host neurons: compared like chip layers
                    p.host_saves.append(v)
            elif node.op in CHIP_NEURONS or (v in readers_outside and (node.op in SYNAPSES or node.op == "add")):
                p.probes.append(v)
