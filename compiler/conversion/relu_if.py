"""``relu-if``: a ReLU network as integrate-and-fire neurons with threshold balancing.

Rate-coded conversion (Diehl et al. 2015; Rueckauer et al. 2017): the ANN runs once per
time step on the same input; every ReLU (and ReLU6) becomes an IF neuron (soft reset by default)
whose threshold is λ, the calibrated p-th percentile of that ReLU's positive outputs. Its
spike train's rate times λ approximates the ReLU's output (clipped at λ), so the spike
is multiplied by λ, and that scale folds into the synaptic layers that read it:

    # before -> after                                (λ = p-th percentile of %r > 0)
    %r = relu(%y)                              %s = if[v_threshold=λ, soft_reset=1](%y)
    %z = linear(%r) {W, b}             ->      %z = linear(%s) {W·λ, b}

Every other op must be linear in the rates (synaptic layers, residual adds, average
pools, reshapes, scaling by constants) for the per-step outputs to average to the ANN's;
anything else is refused with the node named (``--method ecmt`` handles GELU, softmax,
LayerNorm and products of activations).
"""

from __future__ import annotations

import numpy as np

from snnc.conversion.pool_fold import AVGPOOL_INTO_CONV
from snnc.ir.build import emit
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph, Node
from snnc.ir.kinds import SPIKE
from snnc.ir.registry import SYNAPTIC, ops_with
from snnc.ir.rewrite import Match, Pat, Rule, RewriteLog, apply_rules
from snnc.passes.rewrite import const_of, reinfer

#: ops whose per-step outputs average to the op applied to the averages (both the rate
#: code here and ECMT's expectation compensation rely on it: no rule needed for them)
LINEAR_IN_TIME = frozenset({
    "conv", "conv_transpose", "linear", "add", "sub", "neg", "avgpool", "global_avgpool", "reduce_mean",
    "reduce_sum", "reshape", "transpose", "slice", "gather", "concat", "pad", "expand", "tile", "identity",
    "dropout", "constant", "cast", "batchnorm",
})
#: ops a positive scalar passes through unchanged, on the way to a synaptic layer
COMMUTES = frozenset({"reshape", "transpose", "slice", "gather", "expand", "tile", "identity", "dropout",
                      "maxpool", "avgpool", "global_avgpool", "pad"})


def is_relu(graph: Graph, node: Node) -> bool:
    """``relu(x)`` or ``clip(x, 0, max)`` (ReLU6 and friends)."""
    if node.op == "relu":
        return True
    return node.op == "clip" and node.attrs["min"] == 0.0


def refusals(graph: Graph) -> list[str]:
    """Every reason ``graph`` cannot be converted by ``relu-if``, one per node."""
    problems = []
    for node in graph.nodes:
        if any(graph.values[v].timed for v in node.outputs):
            return [f"the model already has a time axis (node {node.name!r}); it is an SNN, not an ANN"]
        if is_relu(graph, node) or node.op in LINEAR_IN_TIME:
            continue
        if node.op in ("mul", "div") and any(const_of(graph, v) is not None for v in node.inputs[1:] + node.inputs[:1]):
            continue
        if node.op == "maxpool":
            continue            # max of spike trains: exact on the first layer's rates, a known small bias after
        problems.append(f"node {node.name!r} ({node.op}) is not a ReLU and not linear in its input; "
                        "relu-if converts ReLU networks only (try --method ecmt)")
    return problems


def to_timed(graph: Graph) -> Graph:
    """A copy of ``graph`` (an ANN: every value per sample) run once per time step."""
    g = graph.copy()
    for value in g.values.values():
        if value.axes == "N":
            value.axes = "TN"
    return g


def _relu_to_if(thresholds: dict[str, float], soft_reset: bool):
    def rewrite(graph: Graph, m: Match) -> str | None:
        relu = m["relu"]
        out = relu.outputs[0]
        lam = thresholds.get(out)
        if lam is None:
            return "no calibration statistics for its output"
        cap = relu.attrs["max"] if relu.op == "clip" else None    # relu: no cap
        lam = float(np.float32(min(lam, cap) if cap is not None else lam))
        graph.remove_node(relu.name, drop_outputs=False)
        spikes = emit(graph, "if", relu.inputs, name=graph.fresh_name(relu.name + ".if"), source=relu.source,
                      attrs={"v_threshold": lam, "v_reset": 0.0, "soft_reset": int(soft_reset)}).outputs[0]
        scale = emit(graph, "constant", [], name=graph.fresh_name(relu.name + ".lambda"),
                     params={"value": np.array(lam, dtype=np.float32)}).outputs[0]
        graph.values.pop(out)
        emit(graph, "mul", [spikes, scale], name=relu.name, source=relu.source, outputs=[out])
        return None
    return rewrite


def _positive_scalar(graph: Graph, node: Node) -> float | None:
    c = const_of(graph, node.inputs[1]) if len(node.inputs) == 2 else None
    if c is None or c.size != 1 or not float(c.reshape(-1)[0]) > 0:
        return None
    return float(c.reshape(-1)[0])


def _sink_scale(graph: Graph, m: Match) -> str | None:
    """``op(x · λ)`` -> ``op(x) · λ`` for an op a positive scalar commutes with, so that the
    scale reaches the synaptic layers behind pools and reshapes."""
    mul, op = m["mul"], m["op"]
    lam = _positive_scalar(graph, mul)
    if lam is None:
        return "the factor is not one positive constant"
    graph.replace_uses(mul.outputs[0], mul.inputs[0])
    out = op.outputs[0]
    moved = graph.fresh_name(out + ".unscaled")
    graph.remove_node(op.name, drop_outputs=False)
    value = graph.values.pop(out)
    emit(graph, op.op, op.inputs, name=op.name, attrs=op.attrs, params=op.params, source=op.source, outputs=[moved])
    graph.remove_node(mul.name)
    emit(graph, "mul", [moved, mul.inputs[1]], name=mul.name, source=mul.source, outputs=[value.name])
    return None


def _fold_input_scale(graph: Graph, m: Match) -> str | None:
    """``linear(s · λ)`` -> ``linear[W·λ](s)`` for every synaptic layer reading the scaled
    spikes; other readers (a residual add) keep reading ``s · λ``."""
    mul = m["mul"]
    lam = _positive_scalar(graph, mul)
    if lam is None:
        return "the factor is not one positive constant"
    out = mul.outputs[0]
    layers = [u for u in graph.users(out) if u.op in ops_with(SYNAPTIC) and u.inputs[0] == out
              and u.inputs.count(out) == 1]
    if not layers:
        return f"no synaptic layer reads {out!r}"
    for layer in layers:
        w = layer.params["weight"]
        layer.params = {**layer.params, "weight": (w.astype(np.float64) * lam).astype(w.dtype)}
        graph.replace_uses(out, mul.inputs[0], exclude=[u.name for u in graph.users(out) if u is not layer])
    if not graph.users(out) and out not in graph.outputs:
        scale = mul.inputs[1]
        graph.remove_node(mul.name)
        if not graph.users(scale):
            graph.remove_node(graph.producer(scale).name)
    return None


def _reads_lone_scale(graph: Graph, node: Node) -> bool:
    mul = graph.producer(node.inputs[0]) if node.inputs else None
    return (mul is not None and mul.op == "mul" and graph.values[mul.inputs[0]].kind == SPIKE
            and const_of(graph, mul.inputs[1]) is not None and len(graph.users(mul.outputs[0])) == 1
            and mul.outputs[0] not in graph.outputs)


def _sink_scale_at(graph: Graph, m: Match) -> str | None:
    m["mul"] = graph.producer(m["op"].inputs[0])
    return _sink_scale(graph, m)


def rules(thresholds: dict[str, float], soft_reset: bool = True) -> list[Rule]:
    """The ``relu-if`` rule set; ``thresholds`` maps each ReLU output value to its λ."""
    return [
        Rule("relu-to-if", Pat(where=is_relu, name="relu"), _relu_to_if(thresholds, soft_reset)),
        Rule("sink-scale", Pat(COMMUTES, inputs=None, name="op",
                               where=lambda g, n: _reads_lone_scale(g, n)), _sink_scale_at),
        Rule("fold-input-scale", Pat("mul", inputs=[None, Pat(const=True)], name="mul"),
             _fold_input_scale),
        AVGPOOL_INTO_CONV,
    ]


def convert_relu_if(graph: Graph, thresholds: dict[str, float], *, soft_reset: bool = True) -> tuple[Graph, RewriteLog]:
    """``graph`` (an ANN) as a rate-coded SNN; ``thresholds`` from calibration. A soft reset
    (V -= λ) keeps the residual charge and converges faster; a hard reset (V = 0) is what
    Lava's LIF on Loihi does."""
    problems = refusals(graph)
    if problems:
        raise SnncError(f"cannot convert with relu-if: {len(problems)} problem(s)", problems=problems)
    g, log = apply_rules(to_timed(graph), rules(thresholds, soft_reset))
    reinfer(g)
    return g, log
