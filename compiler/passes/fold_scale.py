"""``fold-scale``: fold a constant scale in front of an IF/LIF neuron into the neuron's
threshold, or into the synaptic layer before it.

    # before -> after: a positive scalar s, a neuron with zero reset
    %a = mul(%x, %c) {c = s}                       (gone)
    %b = reshape(%a)                          ->   %b = reshape(%x)
    %s = lif[v_threshold=θ](%b)                    %s = lif[v_threshold=θ/s](%b)

    # a per-channel (or negative) scale c after a conv/conv_transpose/linear
    %y = conv(%x) {W, b}                           %y = conv(%x) {W·c, b·c}
    %a = mul(%y, %c)                          ->   (gone)
    %s = lif(%a)                                   %s = lif(%y)

``div(%x, %c)`` is ``mul`` by 1/c. Between the scale and the neuron only ops that move
values may stand (reshape, transpose, slice, gather, expand, tile, identity, dropout):
they commute with a scalar; so does a matmul, ``(s·A)·B = s·(A·B)`` (Spikformer's
``SN((Q Kᵀ · s) V)``), for a scalar. Every value on the way must have that one reader.

Why the threshold fold is exact (Spikingformer Eq. 1-2). With zero reset (``v_reset = 0``
or soft reset) the neuron's charge is linear in (V, X): ``H = V + (X − V)/τ``,
``H = V(1 − 1/τ) + X`` or ``H = V + X``, and so are both resets (V ← 0, V ← H − θ). By
induction over t, feeding ``s·X`` gives ``V_t = s·V'_t`` and ``H_t = s·H'_t`` where V', H'
are the states on ``X``, so ``s·H'_t >= θ ⇔ H'_t >= θ/s`` for s > 0: the same spikes.
Spikingformer's attention: ``(Q (Kᵀ V)) · 0.125 → attn_lif(θ = 0.5)`` becomes
``attn_lif(θ = 4)``. For a power-of-two s every float32 operation commutes with the
scaling too, so spikes are bit-identical; other s are exact in real arithmetic and can
flip a spike only where H lies within rounding of θ (the pass log counts such folds as
``inexact``). A hard reset to ``v_reset != 0`` breaks the linearity, s <= 0 flips the
comparison, and a per-channel scale cannot become the IR's scalar threshold: those fold
into the preceding conv/linear when its output feeds the scale alone (per output channel
o, ``c[o]·(W∗x + b)[o]`` is ``(c[o]W)∗x + c[o]b``), or stay, with the reason logged.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.rewrite import Match, Pat, RewriteLog, Rule, apply_rules
from snnc.passes.channels import FOLDABLE, fold_affine, out_channel_axis, out_channels
from snnc.passes.manager import PassLog, register
from snnc.passes.rewrite import bypass, can_bypass, const_of, drop_if_unused, keep_output_names, \
    only_reader, outcomes, readers_note, reinfer

NEURONS = frozenset({"lif", "if"})
# ops that only move values: a scalar factor passes through them unchanged
COMMUTES = frozenset({"reshape", "transpose", "slice", "gather", "expand", "tile", "identity", "dropout"})


def find_scale(graph: Graph, neuron: Node) -> tuple[Node | None, str | None]:
    """The mul/div by a constant feeding ``neuron`` through ops a scalar passes unchanged
    (:data:`COMMUTES`, and either operand of a matmul: ``(sA)B = s(AB)``), and why it
    cannot fold when a value on the way has another reader: ``(node, None)``,
    ``(node, reason)``, or ``(None, None)`` when no such scale feeds the neuron."""
    def walk(value: str, reader: Node, blocked: str | None):
        node = graph.producer(value)
        if node is None:
            return None, None
        if blocked is None and only_reader(graph, value) is not reader:
            blocked = f"{value!r} on the way to {neuron.name!r} is also {readers_note(graph, value)}"
        if node.op in ("mul", "div") and _split(graph, node) is not None:
            return node, blocked
        for operand in (node.inputs[:1] if node.op in COMMUTES else node.inputs if node.op == "matmul" else []):
            found = walk(operand, node, blocked)
            if found[0] is not None:
                return found
        return None, None

    return walk(neuron.inputs[0], neuron, None)


def _split(graph: Graph, node: Node) -> tuple[str, np.ndarray] | None:
    """(dynamic operand, factor s) of ``x * c``, ``c * x`` or ``x / c``; None otherwise."""
    a, b = node.inputs
    ca, cb = const_of(graph, a), const_of(graph, b)
    if node.op == "mul" and (ca is None) != (cb is None):
        return (a, cb) if cb is not None else (b, ca)
    if node.op == "div" and ca is None and cb is not None:
        with np.errstate(divide="ignore"):
            return a, 1.0 / cb.astype(np.float64)
    return None


def _zero_reset(neuron: Node) -> bool:
    return bool(neuron.attrs["soft_reset"]) or float(neuron.attrs["v_reset"]) == 0.0


def _channel_factor(graph: Graph, layer: Node, scale: np.ndarray) -> np.ndarray | None:
    """``scale`` as one factor per output channel of ``layer``, or None when it varies
    along another axis."""
    rank = len(graph.values[layer.outputs[0]].shape)
    if scale.ndim > rank:
        return None
    full = scale.reshape((1,) * (rank - scale.ndim) + scale.shape)
    axis = out_channel_axis(layer) % rank
    if any(n != 1 for i, n in enumerate(full.shape) if i != axis):
        return None
    return np.broadcast_to(full.reshape(-1), (out_channels(layer),))


def _into_weights(graph: Graph, mul: Node, x: str, scale: np.ndarray) -> str | None:
    """Fold ``scale`` into the layer making ``x``; returns why not, or None when done."""
    layer = graph.producer(x)
    if layer is None or layer.op not in FOLDABLE:
        what = "a graph input" if layer is None else f"{layer.name!r} ({layer.op})"
        return f"its input comes from {what}, not from a conv/linear"
    if only_reader(graph, x) is not mul:
        return f"the output of {layer.name!r} is also {readers_note(graph, x)}"
    factor = _channel_factor(graph, layer, scale)
    if factor is None:
        return f"the scale of shape {list(scale.shape)} is not per output channel of {layer.name!r}"
    layer.params = fold_affine(layer, factor)
    return None


def _why_not(graph: Graph, neuron: Node, mul: Node, blocked: str | None) -> str | None:
    """Why the scale ``mul`` feeding ``neuron`` cannot fold at all, or None."""
    if blocked is not None:
        return blocked
    x, scale = _split(graph, mul)
    if graph.values[mul.outputs[0]].shape != graph.values[x].shape:
        return f"it broadcasts {list(graph.values[x].shape)} to {list(graph.values[mul.outputs[0]].shape)}"
    if graph.values[x].dtype != "float32":
        return f"it scales {graph.values[x].dtype} values, not float32"
    if not np.all(np.isfinite(scale)) or not np.all(scale != 0):
        return "the scale is zero or not finite"
    if not can_bypass(graph, mul.outputs[0], x):
        return "its input and output are both graph outputs"
    return None


class _Folder:
    """The rule ``fold-scale`` at one neuron: the scale :func:`find_scale` finds, into the
    threshold or else the layer before. Each neuron takes one scale per run (a second
    one behind it waits for the next run), and each scale is judged once, at the first
    neuron that finds it (both as when this pass was one loop over the neurons)."""

    def __init__(self):
        self.scale_of: dict[str, str] = {}       # neuron -> the mul/div it found
        self.judged_at: dict[str, str] = {}      # mul/div -> the first neuron that found it
        self.how: dict[str, tuple[str, ...]] = {}  # neuron -> pass-log keys of its fold

    def candidate(self, graph: Graph, neuron: Node) -> bool:
        return neuron.name not in self.how and find_scale(graph, neuron)[0] is not None

    def check(self, graph: Graph, m: Match) -> str | None:
        neuron = m["neuron"]
        mul, blocked = find_scale(graph, neuron)
        self.scale_of[neuron.name] = mul.name
        if self.judged_at.setdefault(mul.name, neuron.name) != neuron.name:
            return f"judged at {self.judged_at[mul.name]!r}"
        return _why_not(graph, neuron, mul, blocked)

    def fold(self, graph: Graph, m: Match) -> str | None:
        neuron = m["neuron"]
        mul = graph.node(self.scale_of[neuron.name])
        x, scale = _split(graph, mul)
        const = next(v for v in mul.inputs if v != x)
        reason, how = _into_threshold(neuron, mul, const_of(graph, const), scale)
        if reason is not None:
            why = _into_weights(graph, mul, x, scale)
            if why is not None:
                return f"{reason}, and {why}"
            how = ("into_weights",)
        self.how[neuron.name] = how
        bypass(graph, mul, x)
        drop_if_unused(graph, const)
        return None

    def record(self, graph: Graph, rewrites: RewriteLog, log: PassLog) -> None:
        """Each judged scale, in ``graph``'s order of the neurons that judged it."""
        for neuron, _, reason in outcomes(graph, rewrites):
            if reason is None:
                for key in self.how[neuron]:
                    log.add(key)
            elif self.judged_at[self.scale_of[neuron]] == neuron:
                log.leave(self.scale_of[neuron], reason)


@register("fold-scale")
def fold_scale(graph: Graph, log: PassLog | None = None) -> Graph:
    """Fold constant scales feeding IF/LIF neurons into thresholds (or the layer before)."""
    log = log if log is not None else PassLog("fold-scale")
    folder = _Folder()
    rule = Rule("fold-scale", Pat(NEURONS, name="neuron", where=folder.candidate), folder.fold, check=folder.check)
    g, rewrites = apply_rules(graph, [rule])
    folder.record(graph, rewrites, log)
    for key in ("into_threshold", "into_weights", "left"):
        log.counts.setdefault(key, 0)
    reinfer(g)
    return keep_output_names(g, graph.outputs)


def _into_threshold(neuron: Node, mul: Node, c: np.ndarray, scale: np.ndarray) -> tuple[str | None, tuple]:
    """Move a positive scalar into ``neuron``'s threshold; returns ``(why not, ())``, or
    ``(None, pass-log keys)`` when done (``into_threshold``, and ``inexact`` unless s is a
    power of two and θ/s exact in float32)."""
    if scale.size != 1:
        return f"a per-channel scale {list(scale.shape)} cannot become the scalar threshold of {neuron.name!r}", ()
    s = float(scale.reshape(-1)[0])
    if s < 0:
        return f"the scale {s:g} is negative (it would flip {neuron.name!r}'s comparison)", ()
    if not _zero_reset(neuron):
        v_reset = float(neuron.attrs["v_reset"])
        return f"{neuron.name!r} resets to v_reset={v_reset:g}, not 0 (its dynamics are not linear)", ()
    theta = float(np.float32(neuron.attrs["v_threshold"]))     # as the runtime holds it
    # θ/s for x·s, θ·c for x/c: one rounding from the constant the file holds
    new = theta * float(c.reshape(-1)[0]) if mul.op == "div" else theta / float(c.reshape(-1)[0])
    new32 = np.float32(new)
    if not np.isfinite(new32) or (theta != 0 and new32 == 0):
        return f"the threshold {theta:g}/{s:g} is not a finite nonzero float32", ()
    neuron.attrs["v_threshold"] = float(new32)
    exact = float(new32) == new and np.frexp(s)[0] == 0.5
    return None, ("into_threshold",) if exact else ("into_threshold", "inexact")
