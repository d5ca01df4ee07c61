"""Spike verification (``snnc check``): prove what every edge carries, and report what keeps
a network from being spike-driven.

    from snnc.check import check
    result = check(graph)                 # a snnc.ir Graph
    print(result.format())                # grouped by rule, the layer table, a summary line
    result.spike_driven_fraction          # the headline number
    result.to_dict()                      # what ``snnc check --json`` prints

Kinds come from the op registry's transfer rules (inferred at import; re-checked here by
the IR verifier). The rules are in :mod:`snnc.check.rules`, the per-layer verdicts in
:mod:`snnc.check.layers`, the graph walks in :mod:`snnc.check.analysis`.
"""

from __future__ import annotations


from snnc.check.analysis import Analysis
from snnc.check.diagnostics import ERROR, NOTE, WARNING, Diagnostic
from snnc.check.layers import ENCODER, HEAD, MAC, SPIKE_DRIVEN, Layer, classify_layers
from snnc.check.result import CheckResult
from snnc.check.rules import RULES, RULES_BY_CODE, Context, Rule
from snnc.ir.graph import Graph
from snnc.ir.verify import verify


def check(graph: Graph, *, allow_analog_head: bool = True, strict: bool = False) -> CheckResult:
    """Every rule's findings on ``graph`` at once, and the per-layer table.

    ``allow_analog_head``: the classification head may read analog values (a note, as the
    ECMT supplement keeps it); off, it is an SNN001 error. ``strict``: warnings are errors.
    Raises :class:`~snnc.ir.errors.SnncError` for a malformed graph.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"check() takes a snnc.ir.Graph, not {type(graph).__name__}; load a file with "
                        "snnc.onnx.importer.import_onnx (or snnc.cli.common.load_graph)")
    verify(graph)                 # re-infers every kind: the rules trust them
    an = Analysis(graph)
    ctx = Context(an, classify_layers(an, allow_analog_head=allow_analog_head), allow_analog_head)
    diagnostics = []
    for rule in RULES:
        found = sorted(rule.run(ctx), key=lambda d: an.order[d.node])
        diagnostics += [d.promoted() for d in found] if strict else found
    return CheckResult(graph.name, diagnostics, ctx.layers, allow_analog_head, strict)


__all__ = ["check", "CheckResult", "Diagnostic", "Layer", "Rule", "RULES", "RULES_BY_CODE", "Analysis",
           "ERROR", "WARNING", "NOTE", "SPIKE_DRIVEN", "ENCODER", "HEAD", "MAC"]
