"""``fold-bn``: fold an inference BatchNorm into the synaptic layer before it.

    # before -> after
    %y = conv(%x) {weight: W, bias: b}            %y = conv(%x) {weight: W', bias: b'}
    %z = batchnorm(%y) {scale: γ, bias: β,   ->   (readers of %z read %y)
                        mean: μ, var: σ²}

(the same for ``conv_transpose`` and ``linear``, 1-d and 2-d, grouped and depthwise,
with or without a bias). Per output channel o, BatchNorm computes
``z = γ·(y − μ)/√(σ² + ε) + β`` and the layer ``y = W∗x + b``, so

    z = (γ/√(σ²+ε))·W∗x + (b − μ)·γ/√(σ²+ε) + β
    W' = W·γ/√(σ²+ε),   b' = (b − μ)·γ/√(σ²+ε) + β

with the *variance* σ². (Spikingformer's Appendix E prints √(μ² + ε): a typo; a test
shows that formula changes the outputs and this one does not.) The factor is computed in
float64 and each new parameter rounded once to float32.

A BatchNorm is left in place, with the reason in the pass log, when its input is not the
output of a conv, conv_transpose or linear, when that output is also read elsewhere
(folding would change what the other reader sees), when it normalises an axis that is
not the layer's output channels (a linear over ``[L, I]`` rows), or when σ² + ε <= 0.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.rewrite import Match, Pat, Rule
from snnc.passes.channels import FOLDABLE, fold_affine, out_channel_axis
from snnc.passes.manager import PassLog, register
from snnc.passes.rewrite import bypass, can_bypass, only_reader, readers_note, run_rule_pass


def bn_factor(bn: Node) -> np.ndarray:
    """γ/√(σ² + ε) per channel, in float64 (ε rounded to float32 as the runtime adds it)."""
    eps = float(np.float32(bn.attrs["epsilon"]))
    var = bn.params["var"].astype(np.float64)
    return bn.params["scale"].astype(np.float64) / np.sqrt(var + eps)


def why_not(graph: Graph, bn: Node) -> str | None:
    """The reason ``bn`` cannot fold into the layer before it, or None when it can."""
    x = bn.inputs[0]
    layer = graph.producer(x)
    if layer is None:
        return f"it reads the graph input {x!r}, not a conv/linear output"
    if layer.op not in FOLDABLE:
        return f"it reads {layer.name!r} ({layer.op}), not a conv, conv_transpose or linear"
    if only_reader(graph, x) is not bn:
        return f"the output of {layer.name!r} is also {readers_note(graph, x)}; folding would change it for them"
    if layer.params["weight"].dtype.kind != "f":
        return f"{layer.name!r} has {layer.params['weight'].dtype} weights"
    out_rank = len(graph.values[x].shape)
    if out_channel_axis(layer) % out_rank != 0:
        return (f"it normalises axis 0 of {layer.name!r}'s output {list(graph.values[x].shape)}, whose output "
                "features are the last axis")
    eps = np.float32(bn.attrs["epsilon"])
    bad = np.flatnonzero(~(bn.params["var"].astype(np.float64) + eps > 0))
    if bad.size:
        return f"var + epsilon <= 0 in channel(s) {bad[:5].tolist()}: not a valid BatchNorm"
    if not can_bypass(graph, bn.outputs[0], x):
        return "its output and its input are both graph outputs"
    return None


def fold(graph: Graph, match: Match) -> None:
    """Fold the matched BatchNorm into the layer making its input, and remove it."""
    bn = match["bn"]
    layer = graph.producer(bn.inputs[0])
    factor = bn_factor(bn)
    shift = bn.params["bias"].astype(np.float64) - bn.params["mean"].astype(np.float64) * factor
    layer.params = fold_affine(layer, factor, shift)
    bypass(graph, bn, layer.outputs[0])


#: every BatchNorm is a candidate; :func:`why_not` says why one stays
RULE = Rule("fold-bn", Pat("batchnorm", name="bn"), fold, check=lambda g, m: why_not(g, m["bn"]))


@register("fold-bn")
def fold_batchnorm(graph: Graph, log: PassLog | None = None) -> Graph:
    """Fold every BatchNorm after a conv/conv_transpose/linear into its weights and bias."""
    log = log if log is not None else PassLog("fold-bn")
    return run_rule_pass(graph, [RULE], log, applied="folded", reinfer_kinds=False)
