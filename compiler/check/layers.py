"""The per-layer table: every synaptic layer and attention product, what it reads, and
whether it is spike-driven.

A layer is **spike-driven** when the value it reads is events (:func:`~.analysis.is_event`)
or multi-threshold graded spikes (``graded(levels=n)``, ECMT: each costs one AC per fan-out,
the weight shifted by the spike's exponent) made by spiking neurons through pass-through ops only: each input spike then costs one
accumulate per fan-out weight (an AC, Spikingformer Eq. 18). An attention product is
spike-driven when one of its operands is (each output is a sum of the other operand's
entries selected by spikes: AND-accumulate, no multiplier); ECMT's ``spiking_matmul`` needs
both operands spiking (Theorem 2, Eq. 12: K(t) adds only where A(t) or B(t) spike). Otherwise the layer runs as
MACs, and one verdict says why, the most specific first:

| reason          | verdict       | rule   | when                                                          |
|-----------------|---------------|--------|---------------------------------------------------------------|
| ``residual``    | MAC           | SNN002 | it reads a count(k>=2) made by an Add of spikes (Eq. 3)       |
| ``encoder``     | encoder       | SNN001 | no neuron or layer above it: the encoding layer (Eq. 19, a    |
|                 |               |        | note), reading the input through reshapes, ``repeat_time``,   |
|                 |               |        | input normalisation…                                          |
| ``head``        | head          | SNN001 | the classification head, allowed analog (a note)              |
| ``head``        | MAC           | SNN001 | the same head with ``allow_analog_head=False`` (an error)     |
| ``unowned``     | spike-driven  | SNN003 | events that no spiking neuron made (a warning)                |
| ``non-spike``   | MAC           | SNN001 | any other non-spike input (an error)                          |
"""

from __future__ import annotations

from dataclasses import dataclass

from snnc.check.analysis import Analysis, is_event, is_spikes
from snnc.check.diagnostics import ERROR, NOTE, WARNING

SPIKE_DRIVEN, ENCODER, HEAD, MAC = "spike-driven", "encoder", "head", "MAC"
VERDICTS = (SPIKE_DRIVEN, ENCODER, HEAD, MAC)


@dataclass(frozen=True)
class Layer:
    """One row of the table. ``inputs`` are the operands it reads, ``input_kind`` their
    kinds (``"spike x graded(17)"`` for a product), ``weighted`` tells a synaptic layer
    (weights) from an attention product; ``reason``/``code``/``severity`` say which rule
    speaks about it (none when spike-driven), ``operand`` which input it is about and
    ``causes`` the nodes that made that input."""

    name: str
    op: str
    source: str
    inputs: tuple[str, ...]
    input_kind: str
    verdict: str
    weighted: bool
    reason: str = ""
    code: str | None = None
    severity: str | None = None
    operand: str = ""
    causes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "source": self.source, "inputs": list(self.inputs),
                "input_kind": self.input_kind, "verdict": self.verdict, "weighted": self.weighted,
                "code": self.code, "severity": self.severity}


def classify_layers(an: Analysis, *, allow_analog_head: bool = True) -> list[Layer]:
    """One :class:`Layer` per synaptic layer and attention product, in topological order."""
    return [_classify(an, node, allow_analog_head) for node in an.layers]


def _classify(an: Analysis, node, allow_analog_head: bool) -> Layer:
    graph = an.graph
    operands = an.operands(node)
    kinds = {v: graph.values[v].kind for v in operands}
    origins = {v: an.origins(v) for v in operands}
    row = dict(name=node.name, op=node.op, source=node.source, inputs=tuple(operands),
               input_kind=" x ".join(kinds[v].describe() for v in operands),
               weighted=node.op in an.synaptic_ops)

    def verdict(verdict, reason="", code=None, severity=None, operand="", causes=()):
        return Layer(**row, verdict=verdict, reason=reason, code=code, severity=severity,
                     operand=operand or operands[0], causes=tuple(n.name for n in causes))

    spiking = [v for v in operands if is_spikes(kinds[v], origins[v])]
    # ECMT's spiking matmul needs both streams as spikes (Theorem 2); other layers one operand
    if spiking and (node.op != "spiking_matmul" or len(spiking) == len(operands)):
        return verdict(SPIKE_DRIVEN, operand=spiking[0])
    for v in operands:
        adds = origins[v].residual_adds()
        if kinds[v].count_max is not None and adds:
            return verdict(MAC, "residual", "SNN002", ERROR, v, adds)
    if not an.compute_above[node.name]:     # only the graph input (and constants) above it
        return verdict(ENCODER, "encoder", "SNN001", NOTE)
    if node.name in an.heads:
        if allow_analog_head:
            return verdict(HEAD, "head", "SNN001", NOTE, causes=origins[operands[0]].nodes)
        return verdict(MAC, "head", "SNN001", ERROR, causes=origins[operands[0]].nodes)
    for v in operands:
        if is_event(kinds[v]):
            causes = [n for n in origins[v].nodes if not an.is_neuron(n)]
            return verdict(SPIKE_DRIVEN, "unowned", "SNN003", WARNING, v, causes)
    v = next((v for v in operands if v not in spiking), operands[0])
    return verdict(MAC, "non-spike", "SNN001", ERROR, v, origins[v].nodes)
