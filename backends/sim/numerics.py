"""Numerics: ``float`` (the IR's float32 semantics) or ``loihi`` (Loihi fixed point).

The simulator runs whatever graph it is given: one interpreter, two numerics. A program
in Loihi numerics is made by the compiler's ``loihi-quantize`` pass
(``snnc.passes.run_pipeline(graph, "loihi-quantize", options={"loihi-quantize":
{"calibration": feeds}})``, which ``snnc simulate --numerics loihi`` runs); the simulator
only checks that a graph it is told to run as ``loihi`` is one, and imports nothing of
the Loihi backend.
"""

from __future__ import annotations

from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph
from snnc.ir.ops.loihi import PROGRAM_META

NUMERICS = ("float", "loihi")


def prepare(graph: Graph, numerics: str) -> Graph:
    """``graph``, checked to be in ``numerics``: a ``loihi`` run needs a quantised program."""
    if numerics not in NUMERICS:
        raise SnncError(f"unknown numerics {numerics!r}; choose one of {', '.join(NUMERICS)}")
    if numerics == "loihi" and PROGRAM_META not in graph.meta:
        raise SnncError(f"numerics 'loihi' runs a program in Loihi numerics, and graph {graph.name!r} is not "
                        "one: quantise it first with the loihi-quantize pass (snnc.passes.run_pipeline(graph, "
                        "'loihi-quantize'), or snnc simulate --numerics loihi)")
    return graph
