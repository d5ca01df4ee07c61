"""Questions about a whole graph that several layers ask, answered in one place.

    timesteps(graph)   the T the graph fixes itself (its ``repeat_time`` encoders), or None

The simulator (how to shape inputs, how much memory a batch takes), the IR -> ONNX
exporter (the T of its ``Tile``) and the input helpers all need the same answer; a graph
whose encoders disagree is refused here, once, with the steps named.
"""

from __future__ import annotations

from snnc.ir.errors import UnsupportedError
from snnc.ir.graph import Graph


def timesteps(graph: Graph) -> int | None:
    """The number of steps ``graph``'s ``repeat_time`` encoders repeat a static input over
    (direct encoding), or None when it has none (T comes with the input, or from the
    caller); :class:`UnsupportedError` when two encoders disagree."""
    steps = {n.attrs["timesteps"] for n in graph.nodes if n.op == "repeat_time"}
    if len(steps) > 1:
        raise UnsupportedError(f"the graph repeats its input over different numbers of steps {sorted(steps)}")
    return steps.pop() if steps else None
