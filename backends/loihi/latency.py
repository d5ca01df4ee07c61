"""How many steps each value of a Loihi program lags its float counterpart.

Lava sends every synaptic output one step late (it sends the previous step's buffer
first: "this prevents deadlocking"), so a value lags by the number of synaptic ops on
the longest path from the inputs, plus ``steps`` per ``delay`` (the host FIFOs the
quantiser's ``lag-align`` rule inserts to align a multi-input op's inputs). The quantiser starts each neuron at its lag; the
runs align outputs by it; the timing model adds the deepest lag as pipeline fill.
"""

from __future__ import annotations

from snnc.ir.graph import Graph
from snnc.ir.registry import SYNAPTIC, TEMPORAL, ops_with


def latency(graph: Graph) -> dict[str, int]:
    """Steps each value lags its float counterpart: +1 per loihi_dense/loihi_conv (the
    synaptic ops that see time), +``steps`` per ``delay``, on the longest path from the inputs."""
    delayed = ops_with(SYNAPTIC, TEMPORAL)
    lag = {name: 0 for name in graph.inputs}
    for node in graph.nodes:
        base = max((lag.get(v, 0) for v in node.inputs), default=0)
        step = 1 if node.op in delayed else node.attrs["steps"] if node.op == "delay" else 0
        for out in node.outputs:
            lag[out] = base + step
    return lag
