"""``ecmt``: a transformer (or any ANN) as a spiking network by expectation compensation
and multi-threshold neurons (ECMT, the supplement in ``../shared/seeds/000_*``).

The ANN runs once per time step; the SNN's running mean of every value approaches the
ANN's value (the simulator and ``snnc evaluate`` read the output's running mean). Rules,
applied to the ANN's IR made per-step (:func:`snnc.conversion.relu_if.to_timed`):

    # mt-before-synapse: a synaptic layer reading analog values reads graded spikes
    %y = linear(%x)                 ->  %s = multi_threshold[n, θ+, θ−](%x); %y = linear(%s)
    # spiking-matmul (Theorem 2): a product of two activations
    %y = matmul(%a, %b)             ->  %y = spiking_matmul(mt(%a), mt(%b))
    # expectation compensation (Theorem 1): any other non-linearity f
    %y = f(%x)                      ->  %y = delta(f(cum_mean(%x)))
    # cancel: CumMean(Delta(z)) = z exactly
    %y = cum_mean(delta(%z))        ->  (readers of %y read %z)

Ops linear in time (synaptic layers, adds, scaling by constants, reshapes, average pools,
reductions by sum or mean) need nothing: the mean of their per-step outputs is their
output on the mean. The first synaptic layer reading the input (the patch embedding)
and the classification head keep analog input, as ECMT does (supplement §3.3: reported
as MAC layers).

Thresholds (supplement §4.1): n = 8 levels, θ·2^k for k < n. The base θ of each side is
the p-th percentile (p = 99) of that side's calibrated magnitudes, except after GELU
(θ+ = 0.5, θ− = 0.08) and after softmax (0.0125), the paper's fixed bases "to prevent too
few spikes"; a JSON file can override any neuron (``{"<node>": {"theta_pos": ..,
"theta_neg": .., "levels": ..}}``).
"""

from __future__ import annotations

import numpy as np

from snnc.conversion.relu_if import LINEAR_IN_TIME
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Node
from snnc.ir.registry import SYNAPTIC, TEMPORAL, ops_with
from snnc.ir.rewrite import Match, Pat, Rule, RewriteLog, apply_rules
from snnc.passes.rewrite import reinfer

#: the paper's fixed base thresholds (θ+, θ−) after these non-linearities (supplement §4.1)
FIXED_BASES = {"gelu": (0.5, 0.08), "softmax": (0.0125, 0.0125)}
DEFAULT_LEVELS = 8


def static_values(graph: Graph, *, through_synapses: bool = True) -> set[str]:
    """Values the same at every step: constants, the (repeated) inputs, and whatever is
    computed from them alone without a neuron (a mask from ``attention_mask``, the patch
    embedding). A function of static values needs no compensation: f(mean(x)) = f(x).
    With ``through_synapses=False`` a synaptic layer's output counts as changing too: the
    values before the first layer, used to choose where the neurons go."""
    breaks = ops_with(TEMPORAL) | (frozenset() if through_synapses else ops_with(SYNAPTIC))
    static = set(graph.inputs)
    for node in graph.nodes:
        if node.op not in breaks and all(v in static or graph.values[v].is_const for v in node.inputs):
            static.update(node.outputs)
    return static


def _dynamic(graph: Graph, value: str, static: set[str]) -> bool:
    return not graph.values[value].is_const and value not in static


def is_linear_in_time(graph: Graph, node: Node, static: set[str]) -> bool:
    if node.op in LINEAR_IN_TIME:
        return True
    if node.op in ("mul", "div", "matmul"):   # by a constant (or static) factor: linear; of two activations: not
        return sum(_dynamic(graph, v, static) for v in node.inputs) <= 1 and (
            node.op != "div" or not _dynamic(graph, node.inputs[1], static))
    return False


def after(graph: Graph, value: str, static: set[str], depth: int = 6) -> str | None:
    """``"gelu"`` or ``"softmax"`` when ``value`` is made by one (through a few linear ops;
    an exported GELU is ``x·(1 + erf(x/√2))/2``), else None."""
    node = graph.producer(value)
    for _ in range(depth):
        if node is None:
            return None
        if node.op in ("gelu", "erf"):
            return "gelu"
        if node.op == "softmax":
            return "softmax"
        if node.op == "mul" and any(graph.producer(v) is not None and graph.producer(v).op in ("add", "erf")
                                    for v in node.inputs) and _has_erf(graph, node):
            return "gelu"
        dyn = [v for v in node.inputs if _dynamic(graph, v, static)]
        if not is_linear_in_time(graph, node, static) or len(dyn) != 1:
            return None
        node = graph.producer(dyn[0])
    return None


def _has_erf(graph: Graph, node: Node, depth: int = 3) -> bool:
    if depth == 0 or node is None:
        return False
    return node.op == "erf" or any(_has_erf(graph, graph.producer(v), depth - 1) for v in node.inputs
                                   if graph.producer(v) is not None)


def reaches_synapse(graph: Graph, value: str, static: set[str], seen: set | None = None) -> bool:
    """Whether a synaptic layer or a product of activations reads ``value``, directly or later."""
    seen = seen if seen is not None else set()
    for user in graph.users(value):
        if user.name in seen:
            continue
        seen.add(user.name)
        if user.op in ops_with(SYNAPTIC) or (user.op == "matmul" and not is_linear_in_time(graph, user, static)):
            return True
        if any(reaches_synapse(graph, o, static, seen) for o in user.outputs):
            return True
    return False


def mt_sites(graph: Graph) -> list[tuple[Node, int]]:
    """(node, input index) of every operand that becomes graded spikes: the input of each
    synaptic layer but the input layer (it reads static values: ECMT keeps the patch
    embedding analog) and the head, and both operands of each product of two activations."""
    static = static_values(graph, through_synapses=False)
    sites = []
    for node in graph.nodes:
        if node.op in ops_with(SYNAPTIC):
            x = node.inputs[0]
            if _dynamic(graph, x, static) and reaches_synapse(graph, node.outputs[0], static):
                sites.append((node, 0))
        elif node.op == "matmul" and not is_linear_in_time(graph, node, static):
            sites += [(node, 0), (node, 1)]
    return sites


def site_key(node_name: str, index: int) -> str:
    """The ``--thresholds`` key of the neuron reading input ``index`` of ``node_name``: the
    layer's name, ``name:1`` for a product's second operand."""
    return node_name if index == 0 else f"{node_name}:{index}"


def neuron_name(node_name: str, index: int) -> str:
    """The multi-threshold neuron's own name, ``<layer>.mt<index>``: the SNN file names it
    so (see :func:`insert_neurons`), and :func:`snnc.conversion.level_search.site_keys`
    reads the key back from it."""
    return f"{node_name}.mt{index}"


def thresholds(graph: Graph, value: str, stats, levels: int, overrides: dict, site: str) -> dict:
    """The multi-threshold attributes for the neuron reading ``value`` at ``site``."""
    fixed = FIXED_BASES.get(after(graph, value, static_values(graph, through_synapses=False)) or "")
    if fixed is not None:
        pos, neg = fixed
    else:
        pos = stats.pos if stats is not None and stats.pos > 0 else 1.0
        neg = stats.neg if stats is not None and stats.neg > 0 else pos
    attrs = {"levels": levels, "gap": 2.0, "theta_pos": [float(np.float32(pos))],
             "theta_neg": [float(np.float32(neg))]}
    for key in ("levels", "theta_pos", "theta_neg"):
        if key in overrides.get(site, {}):
            v = overrides[site][key]
            attrs[key] = int(v) if key == "levels" else [float(x) for x in np.atleast_1d(v)]
    return attrs


def insert_neurons(graph: Graph, attrs_by_site: dict[tuple[str, int], dict], static: set[str]) -> int:
    """Put a multi-threshold neuron in front of each site; products of two activations
    become spiking matmuls (Theorem 2). Mutates ``graph``; returns the neurons added."""
    added = 0
    for (name, index), attrs in attrs_by_site.items():
        node = graph.node(name)
        value = node.inputs[index]
        # source = its own name, not the layer's ONNX node: the written SNN then names the
        # neuron "<layer>.mt<index>" (the layer's own ONNX name is taken by the layer), so a
        # report can key it the way --thresholds does (level_search.site_keys)
        mt_name = graph.fresh_name(neuron_name(name, index))
        mt = emit(graph, "multi_threshold", [value], name=mt_name, attrs=attrs, source=mt_name)
        graph.replace_uses(value, mt.outputs[0], exclude=[u.name for u in graph.users(value) if u is not node])
        added += 1
    for node in [n for n in graph.nodes if n.op == "matmul" and not is_linear_in_time(graph, n, static)]:
        out = node.outputs[0]
        graph.remove_node(node.name, drop_outputs=False)
        graph.values.pop(out)
        emit(graph, "spiking_matmul", node.inputs, name=node.name, source=node.source, outputs=[out])
    return added


def make_rules(static: set[str]) -> list[Rule]:
    """The compensation rules; ``static`` holds the values that are the same at every step."""

    done: set[str] = set()     # compensated already: f now reads cum_mean and feeds delta

    def nonlinear(graph: Graph, node: Node) -> bool:
        return (node.name not in done and not is_linear_in_time(graph, node, static) and node.op not in ops_with(TEMPORAL)
                and any(_dynamic(graph, v, static) for v in node.inputs))

    def compensate(graph: Graph, m: Match) -> str | None:
        f = m["f"]
        inputs = []
        for i, v in enumerate(f.inputs):
            if _dynamic(graph, v, static):
                inputs.append(emit(graph, "cum_mean", [v], name=graph.fresh_name(f"{f.name}.cum_mean{i}")).outputs[0])
            else:
                inputs.append(v)
        outs = list(f.outputs)
        inner = [graph.fresh_name(o + ".ann") for o in outs]
        graph.remove_node(f.name, drop_outputs=False)
        saved = [graph.values.pop(o) for o in outs]
        emit(graph, f.op, inputs, name=f.name, attrs=f.attrs, params=f.params, source=f.source, outputs=inner)
        done.add(f.name)
        for value, z in zip(saved, inner):
            emit(graph, "delta", [z], name=graph.fresh_name(f"{f.name}.delta"), source=f.source, outputs=[value.name])
        return None

    return [Rule("expectation-compensation", Pat(where=nonlinear, name="f"), compensate),
            Rule("cancel-cum-mean-delta", Pat("cum_mean", inputs=[Pat("delta", name="delta")], name="mean"), _cancel)]


def _cancel(graph: Graph, m: Match) -> str | None:
    mean, d = m["mean"], m["delta"]
    graph.replace_uses(mean.outputs[0], d.inputs[0])
    graph.remove_node(mean.name)
    if not graph.users(d.outputs[0]) and d.outputs[0] not in graph.outputs:
        graph.remove_node(d.name)
    return None


def convert_ecmt(graph: Graph, attrs_by_site: dict[tuple[str, int], dict]) -> tuple[Graph, RewriteLog]:
    """``graph`` (already per-step) with neurons at ``attrs_by_site`` and every other
    non-linearity compensated; returns the SNN and the rewrite log."""
    g = graph.copy()
    insert_neurons(g, attrs_by_site, static_values(g, through_synapses=False))
    reinfer(g)
    # everything after the first synaptic layer is compensated, even where its input does
    # not change yet (the first LayerNorm reads the patch embedding): exact all the same,
    # and `snnc check` sees every non-linearity on the spiking path wrapped
    out, log = apply_rules(g, make_rules(static_values(g, through_synapses=False)))
    reinfer(out)
    return out, log
