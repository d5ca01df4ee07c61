"""The rules: one function each, registered in :data:`RULES` with a stable code and severity.

| code   | severity | finds                                                                         |
|--------|----------|-------------------------------------------------------------------------------|
| SNN001 | error    | a layer fed non-spike values: it runs as MACs (the encoder and, by option,    |
|        |          | the classification head are allowed: notes)                                   |
| SNN002 | error    | integer-float residual: a count(k>=2) from an Add of spikes feeds a layer     |
|        |          | (Spikformer / SEW ResNet, Spikingformer Eq. 3; the fix is Eq. 4)              |
| SNN003 | warning  | SN-before-ConvBN order: a layer reads events that no spiking neuron made      |
| SNN004 | error    | a non-spike operator (softmax, GELU/erf, LayerNorm, exp, division…) on the   |
|        |          | spiking path, i.e. below a layer or neuron and above a neuron or a MAC layer  |
|        |          | (a note when compensated in expectation: between cum_mean and delta, ECMT)    |
| SNN005 | warning  | a BatchNorm that cannot be folded: not right after a Conv/Linear it alone     |
|        |          | reads (Spikingformer Sec. 3.2, Appendix E)                                    |

Rules 1-3 read the per-layer table (:mod:`.layers`), which gives each layer at most one of
them, the most specific: SNN002 over SNN001 over SNN003. A ``matmul`` of two dynamic
tensors (attention) is judged like a layer: spike-driven if one operand is spikes from a
neuron, else a MAC finding under SNN001 (it multiplies; no nonlinearity is involved). A layer
reading an ECMT analog stream (cum_mean, delta, spiking_matmul output), and a spiking matmul
without two spike operands, are told to put a MultiThreshold neuron before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from snnc.check.analysis import CONVERSION_ANALOG, Analysis
from snnc.check.diagnostics import ERROR, NOTE, WARNING, Diagnostic
from snnc.check.layers import Layer
from snnc.ir.graph import Node
from snnc.ir.printer import node_str
from snnc.ir.registry import NONSPIKE, REGISTRY

_MAX_NOTES = 3


@dataclass
class Context:
    """What a rule reads: the graph's analysis, the layer table, the options."""

    an: Analysis
    layers: list[Layer]
    allow_analog_head: bool = True

    def diag(self, code: str, severity: str, node: Node, message: str, fix: str, *,
             chain: Iterable[Node] = (), notes: Iterable[str] = ()) -> Diagnostic:
        return Diagnostic(code=code, severity=severity, node=node.name, op=node.op, source=node.source,
                          message=message, fix=fix, chain=tuple(n.name for n in chain),
                          ir=node_str(self.an.graph, node), notes=tuple(notes))

    def made_by(self, names: Iterable[str], suffix: str = "") -> list[str]:
        names = list(names)
        notes = [f"made by {node_str(self.an.graph, self.an.graph.node(n))}{suffix}" for n in names[:_MAX_NOTES]]
        if len(names) > _MAX_NOTES:
            notes.append(f"… and {len(names) - _MAX_NOTES} more")
        return notes


# -- SNN001 ----------------------------------------------------------------------------
def non_spike_input(ctx: Context) -> Iterable[Diagnostic]:
    """A layer fed non-spike values runs as multiply-accumulates (MACs), not ACs."""
    for row in ctx.layers:
        if row.code != "SNN001":
            continue
        node = ctx.an.graph.node(row.name)
        kind = row.input_kind
        if row.reason == "encoder":
            yield ctx.diag("SNN001", NOTE, node,
                           f"encoding layer: '{row.name}' reads {', '.join('%' + v for v in row.inputs)} "
                           f"({kind}), made from the graph input only: runs as MACs, allowed",
                           "nothing to do: the first layer encodes the input as MACs "
                           "(Spikingformer Eq. 19, the FLOP¹_Conv term)")
        elif row.reason == "head" and row.severity == NOTE:
            yield ctx.diag("SNN001", NOTE, node,
                           f"classification head: '{row.name}' reads {kind} values and no neuron or layer "
                           "follows it: runs as MACs, allowed (--allow-analog-head)",
                           "nothing to do: the ECMT supplement keeps the classifier's input analog; an "
                           "all-spike head is SN-FC-AvgPooling (Spikingformer Eq. 17)",
                           chain=ctx.an.chain(row.operand), notes=ctx.made_by(row.causes))
        elif row.reason == "head":
            yield ctx.diag("SNN001", row.severity, node,
                           f"analog head: '{row.name}' reads {kind} values: runs as MACs",
                           "put a spiking neuron before the FC and average after it (SN-FC-AvgPooling, "
                           "Spikingformer Eq. 17), or allow an analog head (--allow-analog-head, as the "
                           "ECMT supplement does)",
                           chain=ctx.an.chain(row.operand), notes=ctx.made_by(row.causes))
        elif _conversion_analog(ctx, row):
            what = "multiplies" if not row.weighted else "reads"
            yield ctx.diag("SNN001", row.severity, node,
                           f"analog conversion stream: '{row.name}' {what} {kind} values made by ECMT's "
                           f"{', '.join(sorted({ctx.an.graph.node(n).op for n in row.causes}) or [node.op])}: "
                           "runs as MACs",
                           _ECMT_FIX, chain=ctx.an.chain(row.operand), notes=ctx.made_by(row.causes))
        elif row.weighted:
            yield ctx.diag("SNN001", row.severity, node,
                           f"non-spike input: '{row.name}' reads {kind} values: runs as MACs",
                           "feed it spikes: put a spiking neuron right before it (SN-ConvBN, "
                           "Spikingformer Eq. 4); an ANN needs converting first (ReLU -> IF neurons)",
                           chain=ctx.an.chain(row.operand), notes=ctx.made_by(row.causes))
        else:
            yield ctx.diag("SNN001", row.severity, node,
                           f"non-spike attention: '{row.name}' multiplies {kind} values: runs as MACs",
                           "make one operand spikes: a spiking neuron on Q, K or V before the product "
                           "(Spikingformer Eq. 12-13; ECMT Theorem 2, the spiking matrix product)",
                           chain=ctx.an.chain(row.operand), notes=ctx.made_by(row.causes))


_ECMT_FIX = ("put a MultiThreshold neuron before it (snnc.nn.MultiThreshold): ECMT feeds every "
             "synaptic layer and spiking matmul graded spikes ±θ·2^k (Section 4.3, Theorem 2), so each "
             "input costs one AC per fan-out")


def _conversion_analog(ctx: Context, row: Layer) -> bool:
    """The input is an ECMT running-mean / delta / spiking-matmul stream, or the layer is a
    spiking matmul: the fix is a multi-threshold neuron."""
    made = {ctx.an.graph.node(n).op for n in row.causes}
    return row.op == "spiking_matmul" or bool(made & CONVERSION_ANALOG)


# -- SNN002 ----------------------------------------------------------------------------
def integer_float_residual(ctx: Context) -> Iterable[Diagnostic]:
    """A count(k>=2) made by adding spike tensors, multiplied by float weights."""
    for row in ctx.layers:
        if row.code != "SNN002":
            continue
        node = ctx.an.graph.node(row.name)
        adds = ", ".join(f"'{a}'" for a in row.causes)
        yield ctx.diag("SNN002", row.severity, node,
                       f"integer-float residual: '{row.name}' reads {row.input_kind} values "
                       f"from the spike + spike Add {adds}",
                       "move the spiking neuron before the ConvBN: x + ConvBN(SN(x)) keeps the residual "
                       "out of the synapses and every conv reads spikes (SN-ConvBN, Spikingformer Eq. 4)",
                       chain=ctx.an.chain(row.operand),
                       notes=ctx.made_by(row.causes, " — spike + spike residual (Spikingformer Eq. 3)"))


# -- SNN003 ----------------------------------------------------------------------------
def sn_before_convbn(ctx: Context) -> Iterable[Diagnostic]:
    """A layer's input must come from a spiking neuron through pass-through ops only."""
    for row in ctx.layers:
        if row.code != "SNN003":
            continue
        node = ctx.an.graph.node(row.name)
        makers = ", ".join(f"{ctx.an.graph.node(n).op} '{n}'" for n in row.causes) or "the graph input"
        yield ctx.diag("SNN003", row.severity, node,
                       f"spikes not made by a neuron: '{row.name}' reads {row.input_kind} values made by "
                       f"{makers}",
                       "let a spiking neuron make this input, through reshapes and pooling only (SN "
                       "before ConvBN, Spikingformer Eq. 4, 9-13): neurocores send only neurons' spikes",
                       chain=ctx.an.chain(row.operand, through_events=True), notes=ctx.made_by(row.causes))


# -- SNN004 ----------------------------------------------------------------------------
_NONSPIKE_FIX = {
    "softmax": "drop it as Spikformer's SSA does (Spikingformer Eq. 13), or use a spiking softmax "
               "(SIT-Conversion: SI-exp and SI-norm neurons, Eq. 5-10)",
    "layernorm": "use a BatchNorm right after the Conv/Linear (it folds, Spikingformer Sec. 3.2), or "
                 "compensate it in expectation (ECMT Theorem 1)",
}
_NONSPIKE_DEFAULT = ("replace it with spiking neurons (ReLU -> IF), or compensate the non-linearity in "
                     "expectation (ECMT Theorem 1: O(T) = T·F(S(T)/T) − (T−1)·F(S(T−1)/(T−1)))")


def _is_scale(ctx: Context, node: Node) -> bool:
    """``x / c`` for a constant c with no zero is ``x * (1/c)``: a scale, not a non-linearity."""
    if node.op != "div" or len(node.inputs) != 2:
        return False
    divisor = ctx.an.graph.values[node.inputs[1]]
    return divisor.is_const and divisor.kind.levels is not None and 0.0 not in divisor.kind.levels


def non_spike_operator(ctx: Context) -> Iterable[Diagnostic]:
    """Softmax, GELU, LayerNorm, exp, division… between the encoder and the last neuron."""
    an = ctx.an
    allowed_heads = frozenset(r.name for r in ctx.layers if r.verdict == "head")
    core_below = an.core_below(allowed_heads)
    for node in an.graph.nodes:
        if node.op == "si_norm":         # SIT's Spiking-Softmax: neurons, but a division per element
            yield ctx.diag("SNN004", NOTE, node,
                           f"SIT Spiking-Softmax: si_norm '{node.name}' normalises SI-exp outputs by their sum "
                           "(Eq. 5, 10): one division per element per step (off the neurocores; the simulator "
                           "counts its FLOPs and the SI-exp spikes in the full count), allowed",
                           "nothing to do: Spiking_Softmax(x)_i = exp_i / norm(Σ exp_j) (SIT Eq. 1)")
            continue
        opdef = REGISTRY.get(node.op)
        if opdef is None or not opdef.has(NONSPIKE) or _is_scale(ctx, node):
            continue
        timed = any(v.timed for v in an.graph.ins(node))
        if not an.compute_above[node.name] or not (core_below[node.name] or timed):
            continue
        dynamic = [v for v in node.inputs if not an.graph.values[v].is_const]
        made = [p.name for v in dynamic[:1] if (p := an.graph.producer(v)) is not None]
        if an.compensated(node):
            yield ctx.diag("SNN004", NOTE, node,
                           f"compensated in expectation: {node.op} '{node.name}' runs between a cum_mean and "
                           "a delta (ECMT Theorem 1): its running mean is exact, it costs its FLOPs every "
                           "step (off the neurocores), allowed",
                           "nothing to do: O(t) = t·f(S(t)/t) − (t−1)·f(S(t−1)/(t−1)) (ECMT supplement Eq. 1)",
                           notes=ctx.made_by(made))
            continue
        yield ctx.diag("SNN004", ERROR, node,
                       f"non-spike operator on the spiking path: {node.op} '{node.name}'",
                       _NONSPIKE_FIX.get(node.op, _NONSPIKE_DEFAULT),
                       chain=[n for v in dynamic for n in an.chain(v)], notes=ctx.made_by(made))


# -- SNN005 ----------------------------------------------------------------------------
def unfoldable_batchnorm(ctx: Context) -> Iterable[Diagnostic]:
    """fold-bn merges a BatchNorm into the Conv/Linear whose output only it reads."""
    graph = ctx.an.graph
    for node in graph.nodes:
        if node.op != "batchnorm":
            continue
        value = node.inputs[0]
        producer = graph.producer(value)
        if producer is None:
            why = f"reads the graph input %{value}"
        elif producer.op not in ctx.an.synaptic_ops:
            why = f"reads %{value} from {producer.op} '{producer.name}', not a Conv/Linear"
        else:
            others = [u.name for u in graph.users(value) if u is not node]
            if not others and value not in graph.outputs:
                continue
            why = (f"reads {producer.op} '{producer.name}', whose output is also read by "
                   + (", ".join(f"'{o}'" for o in others) or "the graph output"))
        yield ctx.diag("SNN005", WARNING, node, f"unfoldable BatchNorm: '{node.name}' {why}",
                       "put the BatchNorm right after the Conv/Linear it normalises, so fold-bn merges it "
                       "into the weights: W' = W·γ/√(σ²+ε), b' = (b−μ)·γ/√(σ²+ε) + β (Spikingformer "
                       "Sec. 3.2, Appendix E)",
                       chain=ctx.an.chain(value), notes=ctx.made_by([producer.name] if producer else []))


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    severity: str
    run: Callable[[Context], Iterable[Diagnostic]]


RULES: tuple[Rule, ...] = (
    Rule("SNN001", "non-spike input to a layer (MACs)", ERROR, non_spike_input),
    Rule("SNN002", "integer-float residual", ERROR, integer_float_residual),
    Rule("SNN003", "SN-before-ConvBN order", WARNING, sn_before_convbn),
    Rule("SNN004", "non-spike operator on the spiking path", ERROR, non_spike_operator),
    Rule("SNN005", "unfoldable BatchNorm", WARNING, unfoldable_batchnorm),
)
RULES_BY_CODE = {r.code: r for r in RULES}
