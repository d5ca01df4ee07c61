"""``fold-bias``: fold a constant added after a conv/linear into the layer's bias.

    # before -> after: c constant, one value per output channel of the layer
    %y = linear(%x) {W}                            %y = linear(%x) {W, b + c}
    %a = add(%y, %c)                          ->   (gone; readers of %a read %y)

``sub(%y, %c)`` folds ``-c`` the same way. Why: PyTorch exports ``nn.Linear`` on a 3-D
input (``[T, N, F]``, every SNN's layout) as ``MatMul`` followed by ``Add`` of the bias,
which the importer reads as a bias-less ``linear`` and an ``add``; a Loihi synapse
carries its bias in the neuron (``bias_mant·2^bias_exp``), so the quantiser can put the
layer on chip only when the add is part of it. The fold is exact in float32 as well:
``linear`` computes ``x Wᵀ`` and then adds ``b`` (one rounding each), as the add did.

A constant that varies along any axis but the output channels (``[T, 1, F]``, or a full
tensor), an output read by more than the add, or an add whose output would change shape
stays, with the reason in the pass log.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.rewrite import Match, Pat, Rule
from snnc.passes.channels import FOLDABLE, fold_affine, out_channel_axis, out_channels
from snnc.passes.manager import PassLog, register
from snnc.passes.rewrite import bypass, can_bypass, const_of, drop_if_unused, only_reader, readers_note, \
    run_rule_pass


def split(graph: Graph, node: Node) -> tuple[str, np.ndarray] | None:
    """(layer output, per-element shift) of ``y + c``, ``c + y`` or ``y - c`` where ``y`` is
    made by a conv/conv_transpose/linear; None otherwise."""
    if len(node.inputs) != 2:
        return None
    a, b = node.inputs
    ca, cb = const_of(graph, a), const_of(graph, b)
    layer = lambda v: (p := graph.producer(v)) is not None and p.op in FOLDABLE   # noqa: E731
    if cb is not None and ca is None and layer(a):
        return a, (cb if node.op == "add" else -cb.astype(np.float64))
    if node.op == "add" and ca is not None and cb is None and layer(b):
        return b, ca
    return None


def channel_shift(graph: Graph, layer: Node, c: np.ndarray) -> np.ndarray | None:
    """``c`` as one value per output channel of ``layer`` (broadcast over its output), or
    None when it varies along another axis or has more axes than the output."""
    rank = len(graph.values[layer.outputs[0]].shape)
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    axis = out_channel_axis(layer) % rank
    if any(n != 1 for i, n in enumerate(full.shape) if i != axis):
        return None
    return np.broadcast_to(full.reshape(-1), (out_channels(layer),)).astype(np.float64)


def _why_not(graph: Graph, m: Match) -> str | None:
    add = m["add"]
    y, c = split(graph, add)
    layer = graph.producer(y)
    if only_reader(graph, y) is not add:
        return f"the output of {layer.name!r} is also {readers_note(graph, y)}"
    if graph.values[add.outputs[0]].shape != graph.values[y].shape:
        return f"it broadcasts {list(graph.values[y].shape)} to {list(graph.values[add.outputs[0]].shape)}"
    if graph.values[y].dtype != "float32":
        return f"it adds to {graph.values[y].dtype} values, not float32"
    if channel_shift(graph, layer, np.asarray(c)) is None:
        return f"the constant of shape {list(np.shape(c))} is not per output channel of {layer.name!r}"
    if not can_bypass(graph, add.outputs[0], y):
        return "its input and output are both graph outputs"
    return None


def _fold(graph: Graph, m: Match) -> None:
    add = m["add"]
    y, c = split(graph, add)
    layer = graph.producer(y)
    shift = channel_shift(graph, layer, np.asarray(c))
    layer.params = fold_affine(layer, np.ones(out_channels(layer)), shift)
    const = next(v for v in add.inputs if v != y)
    bypass(graph, add, y)
    drop_if_unused(graph, const)


@register("fold-bias")
def fold_bias(graph: Graph, log: PassLog | None = None) -> Graph:
    """Fold a per-channel constant added after a conv/linear into its bias."""
    log = log if log is not None else PassLog("fold-bias")
    rule = Rule("fold-bias", Pat({"add", "sub"}, name="add", where=lambda g, n: split(g, n) is not None),
                _fold, check=_why_not)
    return run_rule_pass(graph, [rule], log, applied="folded")
