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
from snnc.ir.registry import SYNAPTIC, ops_with
from snnc.ir.rewrite import Match, Pat, Rule, RewriteLog, apply_rules
from snnc.passes.rewrite import const_of, reinfer

#: ops whose per-step outputs average to the op applied to the averages
LINEAR_IN_RATES = frozenset({
    "conv", "conv_transpose", "linear", "add", "sub", "neg", "avgpool", "global_avgpool", "reduce_mean",
    "reduce_sum", "reshape", "transpose", "slice", "gather", "concat", "pad", "expand", "tile", "identity",
    "dropout", "constant", "batchnorm",
})
#: ops a positive scalar passes through unchanged, on the way to a synaptic layer
COMMUTES = frozenset({"reshape", "transpose", "slice", "gather", "expand", "tile", "identity", "dropout",
                      "maxpool", "avgpool", "global_avgpool", "pad"})


def is_relu(graph: Graph, node: Node) -> bool:
    """``relu(x)`` or ``clip(x, 0, max)`` (ReLU6 and friends)."""
    if node.op == "relu":
        return True
    return node.op == "clip" and node.attrs.get("min") == 0.0


def refusals(graph: Graph) -> list[str]:
    """Every reason ``graph`` cannot be converted by ``relu-if``, one per node."""
    problems = []
    for node in graph.nodes:
        if any(graph.values[v].timed for v in node.outputs):
            return [f"the model already has a time axis (node {node.name!r}); it is an SNN, not an ANN"]
        if is_relu(graph, node) or node.op in LINEAR_IN_RATES:
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
        cap = relu.attrs.get("max")
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


def _scaled_layers(graph: Graph, value: str, seen: list[Node]) -> str | None:
    """Collect the synaptic layers every path from ``value`` reaches through :data:`COMMUTES`
    ops with no other reader; returns why not when a path ends elsewhere."""
    if value in graph.outputs:
        return f"{value!r} is a graph output"
    for user in graph.users(value):
        if user.op in ops_with(SYNAPTIC) and user.inputs[0] == value:
            seen.append(user)
        elif user.op in COMMUTES and user.inputs[0] == value:
            reason = _scaled_layers(graph, user.outputs[0], seen)
            if reason:
                return reason
        else:
            return f"{value!r} is read by {user.name!r} ({user.op})"
    return None


def _fold_input_scale(graph: Graph, m: Match) -> str | None:
    mul = m["mul"]
    c = const_of(graph, mul.inputs[1])
    if c is None or c.size != 1 or not float(c.reshape(-1)[0]) > 0:
        return "the factor is not one positive constant"
    layers: list[Node] = []
    reason = _scaled_layers(graph, mul.outputs[0], layers)
    if reason:
        return reason
    for layer in {id(n): n for n in layers}.values():
        w = layer.params["weight"]
        layer.params = {**layer.params, "weight": (w.astype(np.float64) * float(c.reshape(-1)[0])).astype(w.dtype)}
    graph.replace_uses(mul.outputs[0], mul.inputs[0])
    graph.remove_node(mul.name)
    if not graph.users(mul.inputs[1]):
        graph.remove_node(graph.producer(mul.inputs[1]).name)
    return None


def rules(thresholds: dict[str, float], soft_reset: bool = True) -> list[Rule]:
    """The ``relu-if`` rule set; ``thresholds`` maps each ReLU output value to its λ."""
    return [
        Rule("relu-to-if", Pat(where=is_relu, name="relu"), _relu_to_if(thresholds, soft_reset)),
        Rule("fold-input-scale", Pat("mul", inputs=[Pat("if"), Pat(const=True)], name="mul"), _fold_input_scale),
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
