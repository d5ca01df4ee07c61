"""The host nodes that run inside a Lava run: grouped into processes, stepped, and costed.

A node the chip cannot execute (a residual add, the products of two spike tensors in
spiking self-attention, softmax, a float neuron, a dequantised read-back) may sit between
chip layers. It runs inside the Lava run as a CPU process (``lava_procs/host_op.py``)
that, every time step, receives the chip values it reads, evaluates its IR nodes with
the simulator's numerics (the registry's numpy references) and sends what the chip reads
on. No Lava here: this module is what that process runs (:class:`HostProgram`), how the
host nodes are grouped (:func:`clusters`), and the plan's record of each host node
(:func:`host_table`: why it is on the host, its per-step traffic).

**Timing.** A process that receives and then sends in the same step adds no delay
(Lava's channels block until the sender has sent in that step); every chip synapse sends
its previous step's buffer first, so a value from the host reaches a neuron one step
later, as from any chip layer, and ``latency(q)`` (+1 per synapse, 0 per host node)
holds for both engines. A stateless node is evaluated on the step's values; a temporal
one (a float neuron, a running mean) on all steps so far, keeping the last: the same
causal recurrence as the simulator's whole-sequence run, so the values agree bit for bit.

**Grouping.** Host nodes joined by a host value run in one process (one OS process in
Lava's simulator instead of one per node). Every path from a process's output back to
its input crosses a chip synapse, which sends before it receives, so a process that
receives all its inputs, computes, then sends never deadlocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.interpret import Interpreter
from snnc.ir.ops.common import prod
from snnc.ir.registry import TEMPORAL, get


@dataclass
class Cluster:
    """Host nodes that run in one process: ``reads`` chip values, ``sends`` host values
    the chip reads, ``fixed`` values computed before the run, ``saves`` values read after it."""

    nodes: list[Node]
    reads: list[str] = field(default_factory=list)
    sends: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    saves: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.nodes[0].name


def clusters(p) -> list[Cluster]:
    """``p.host`` (a :class:`~snnc.backends.loihi.chip.ChipPlan`) grouped by the host values
    that join them, each group's nodes in program order."""
    host = [n for n in p.chip if n.name in set(p.host)]
    made = {v: n.name for n in host for v in n.outputs}
    parent = {n.name: n.name for n in host}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for node in host:
        for v in node.inputs:
            if v in made:
                parent[find(made[v])] = find(node.name)
    groups: dict[str, Cluster] = {}
    for node in host:
        groups.setdefault(find(node.name), Cluster([])).nodes.append(node)
    chip_reads = {v for n in p.chip if n.name not in set(p.host) for v in n.inputs}
    for c in groups.values():
        own = {v for n in c.nodes for v in n.outputs}
        for v in dict.fromkeys(v for n in c.nodes for v in n.inputs if v not in own):
            (c.fixed if v in p.host_inputs else c.reads).append(v)
        c.sends = [v for n in c.nodes for v in n.outputs if v in chip_reads]
        c.saves = [v for v in p.host_saves if v in own]
    return list(groups.values())


class HostProgram:
    """One cluster's nodes, stepped: :meth:`step` takes the chip values of step ``t`` (in
    snnc's ``[N, *shape]``) and returns the values it sends, in ``cluster.sends`` order."""

    def __init__(self, graph: Graph, cluster: Cluster, fixed: dict[str, np.ndarray], n: int, steps: int):
        self.graph, self.cluster, self.fixed, self.n, self.steps = graph, cluster, fixed, n, steps
        self.interp = Interpreter(graph)
        self.interp.batch = n
        self.history: dict[str, list[np.ndarray]] = {}

    def _arg(self, value: str, t: int, temporal: bool) -> np.ndarray:
        if value in self.fixed:
            arr = self.fixed[value]
            if self.graph.values[value].axes != "TN":
                return arr
            return arr[: t + 1] if temporal else arr[t: t + 1]
        hist = self.history[value]
        return np.stack(hist[: t + 1]) if temporal else hist[t][None]

    def step(self, t: int, received: dict[str, np.ndarray]) -> list[np.ndarray]:
        for value, arr in received.items():
            want = self.graph.values[value]
            self.history.setdefault(value, []).append(
                np.asarray(arr).reshape(self.n, *want.shape).astype(want.dtype, copy=False))
        for node in self.cluster.nodes:
            temporal = get(node.op).has(TEMPORAL)
            self.interp.timesteps = t + 1 if temporal else 1
            outs = self.interp.run_node(node, [self._arg(v, t, temporal) for v in node.inputs])
            for value, arr in zip(node.outputs, outs):
                self.history.setdefault(value, []).append(arr[-1])
        return [self.history[v][t] for v in self.cluster.sends]

    def saved(self) -> dict[str, np.ndarray]:
        """The kept values, ``[T, N, *shape]``."""
        return {v: np.stack(self.history[v]) for v in self.cluster.saves}


def _bits(graph: Graph, value: str, readers: list[Node]) -> int:
    """Bits per element a value needs on the wire: 1 for spikes; a synapse's graded
    payload width; else Lava's 24-bit graded spikes (synaptic sums read back)."""
    kind = graph.values[value].kind
    if kind.is_binary:
        return 1
    widths = [n.attrs.get("num_message_bits", 0) for n in readers if n.op in ("loihi_dense", "loihi_conv")]
    return max([w for w in widths if w] or [24])


def host_table(p) -> list[dict]:
    """Per host node inside the run: why it is on the host, and its per-step traffic per
    sample (values and bits in from the chip, out to the chip)."""
    g = p.graph
    host = set(p.host)
    chip_nodes = {n.name for n in p.chip if n.name not in host}
    chip_values = {v for n in p.chip if n.name in chip_nodes for v in n.outputs}
    reasons = {e["node"]: e["reason"] for e in g.meta.get("loihi", {}).get("host", [])}
    rows = []
    for node in (n for n in p.chip if n.name in host):
        ins = [v for v in dict.fromkeys(node.inputs) if v in chip_values]
        outs = [v for v in node.outputs if any(r.name in chip_nodes for r in g.users(v))]
        size = lambda v: prod(g.values[v].shape)                      # noqa: E731
        chip_readers = lambda v: [r for r in g.users(v) if r.name in chip_nodes]   # noqa: E731
        rows.append({
            "node": node.name, "op": node.op, "reason": reasons.get(node.name, _why(node, g)),
            "in_values": sum(size(v) for v in ins), "in_bits": sum(size(v) * _bits(g, v, []) for v in ins),
            "out_values": sum(size(v) for v in outs),
            "out_bits": sum(size(v) * _bits(g, v, chip_readers(v)) for v in outs)})
    return rows


def _why(node: Node, graph: Graph) -> str:
    if node.op == "loihi_dequant" and graph.values[node.inputs[0]].kind.is_graded_spike:
        return "a multi-threshold neuron's graded spikes read back and scaled in float, for a host op"
    if node.op == "loihi_dequant":
        return "a synaptic sum read back and scaled in float (no neuron reads it on chip)"
    if node.op == "loihi_encode":
        return "a float value encoded as graded spikes for the chip"
    if node.op in ("lif", "if"):
        return "a float neuron: its input is not one synaptic layer's"
    if node.op == "matmul":
        return "a product of two dynamic tensors: no fixed synapse computes it"
    if node.op == "delay":
        return (f"lag-align: holds its input {node.attrs['steps']} step(s) so its reader's inputs arrive at one lag "
                "(a FIFO on the host: Lava's synapses have no programmable delay)")
    if node.op in ("add", "sub"):
        return "a sum of two streams computed on the host"
    if node.op in ("reshape", "transpose"):
        return f"a {node.op} of host values, or one that reorders neurons (Lava moves none without a synapse)"
    return f"op {node.op!r} has no Loihi lowering"
