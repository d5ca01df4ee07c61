"""The spiking IR: graph, values, spike kinds, op registry, printer, (de)serialiser.

This package imports nothing of ``snnc`` outside ``snnc.ir``.
"""

from snnc.ir import ops as _ops  # noqa: F401  (registers every op)
from snnc.ir.errors import IRError, SnncError, UnsupportedError
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.kinds import ANALOG, SIGNED, SPIKE, Kind, count, graded
from snnc.ir.registry import REGISTRY, OpDef, get

__all__ = ["ANALOG", "REGISTRY", "SIGNED", "SPIKE", "Graph", "IRError", "Kind", "Node", "OpDef",
           "SnncError", "UnsupportedError", "Value", "count", "get", "graded"]
