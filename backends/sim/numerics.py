"""Numerics: ``float`` (the IR's float32 semantics) or ``loihi`` (Loihi fixed point).

``loihi`` rewrites the program into the integer ``loihi`` op family with
:func:`snnc.backends.loihi.quantize.quantize`; the simulator then runs and counts that
program like any other graph (one interpreter, two numerics).
"""

from __future__ import annotations

from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph

NUMERICS = ("float", "loihi")


def prepare(graph: Graph, numerics: str, calibration: dict | None = None) -> Graph:
    """``graph`` as the simulator runs it under ``numerics``; ``calibration`` (input arrays
    in run-time layout) sets the quantiser's input ranges."""
    if numerics == "float":
        return graph
    if numerics != "loihi":
        raise SnncError(f"unknown numerics {numerics!r}; choose one of {', '.join(NUMERICS)}")
    try:
        from snnc.backends.loihi.quantize import quantize
    except ImportError as err:
        raise SnncError("numerics 'loihi' needs snnc.backends.loihi.quantize, which this installation "
                        f"lacks ({err}); use --numerics float") from err
    return quantize(graph) if calibration is None else quantize(graph, calibration=calibration)
