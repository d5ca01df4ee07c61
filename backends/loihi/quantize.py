"""Quantise a float spiking graph to Loihi 2 numerics: the ``loihi`` op family.

    q = quantize(graph)                       # graph: BatchNorm folded (fold-bn) first
    q = quantize(graph, calibration={"x": x}) # the input's range from data

Rewrites, each ``# before -> after`` (rules on :mod:`snnc.ir.rewrite`, in
:mod:`snnc.backends.loihi.quant_rules`):

    %a = conv|linear(%s); %y = lif|if(%a)  ->  %a = loihi_conv|loihi_dense(%s); %y = loihi_lif(%a)
    %y = maxpool(%s)   (s: spikes)         ->  %c = loihi_conv[ones, group=C](%s); %y = loihi_lif[vth=0](%c)
    %p = avgpool(%x) read by a neuron      ->  %p = conv[depthwise, 1/|window|](%x), then as any synapse
    %a = conv|linear(%s); %y = multi_threshold(%a)  ->  loihi_conv|loihi_dense; %y = loihi_mt  (graded payload)
    %a = conv|linear(%s) (no neuron after) ->  %i = loihi_conv|loihi_dense(%s); %a = loihi_dequant(%i)
    %r = add(conv|linear(%s1), conv|linear(%s2) or spikes); %y = lif|if(%r)
                                           ->  two loihi synapses, %d = add of them (a dendritic
                                               sum, on chip); %y = loihi_lif(%d)   (quant_residual.py)
    a synapse reading a float input x      ->  its input is loihi_encode(x): integer graded spikes
    %z = op(%x, %y), lag(x) < lag(y), in the Lava run
                                           ->  %z = op(delay[lag(y)-lag(x)](%x), %y)   (lag-align,
                                               last: quant_lag.py)
    %m = cum_mean|delta|spiking_matmul(%x), lag(x) = L, in the Lava run
                                           ->  %m = ...[start=L](%x)   (time-origin, after it)

and leaves every other node on the host, as it was (the report says why; so is a layer
whose threshold is below one integer step at the largest scale its weights allow). The files, by
job: ``quant_rules.py`` (the rewrites), ``scales.py`` (the scale and bias arithmetic),
``latency.py`` (the one-step synaptic delays), ``quant_table.py`` (the quantisation table);
this module runs them and checks the result.

The mapping (DESIGN.md; lava/proc/lif/models.py). SpikingJelly's LIF with decay_input
charges ``H = V + (X − V)/τ = V(1 − 1/τ) + X/τ`` (Spikingformer Eq. 1) and fires at
``H >= θ``. Lava's LIF with ``du = 4095`` clears its current every step, so
``v ← v(4096 − dv)/4096 + 64·a + bias`` and it fires at ``v > 64·vth``. With one scale k
per layer (integer units per float unit of H):

    a = W_int · s,  W_int ≈ k·W/τ        (1/τ folded into the weights; without
                                          decay_input, or for IF, W_int ≈ k·W)
    dv = round(4096/τ)  (0 for IF),  du = 4095
    bias_mant·2^bias_exp ≈ 64·k·b/τ      (v units: the bias is not shifted by 6)
    θ_int = k·θ exactly (k is chosen so), vth = θ_int − 1

so ``H >= θ`` on the integer grid (``Σ a >= θ_int``, ties fire) is exactly Lava's strict
``v > 64·vth``. Every synapse delays by one step, so a neuron at depth d first hears its
input at step d: it gets ``start = d`` (u, v zeroed as that step begins; Lava's LIFReset),
and does not charge its bias alone meanwhile. States between two grid points exist only through the decay's 6
fractional bits; those within the last 63/64 of a unit below θ_int fire too. Weights are
8-bit mixed sign on Lava's scale: even values in [−254, 254] (Lava clears the lowest bit
of mixed-sign weights). k is the largest scale for which the weights fit, θ_int stays
within 17 bits, and no neuron can receive more than 16 bits of input per step
(widths.py). A hard reset to ``v_reset ≠ 0`` is exact as a reset to 0 with threshold
``θ − v_reset`` (the dynamics are invariant under V' = V − v_reset); a soft reset has no
Lava equivalent and is an error.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from snnc.backends.loihi import quant_lag, quant_residual, widths
from snnc.backends.loihi.latency import latency
from snnc.backends.loihi.quant_mt import dequant_payloads
from snnc.backends.loihi.quant_table import table_lines
from snnc.backends.loihi.quant_rules import NEURONS, SYNAPSES, Quantiser
from snnc.backends.loihi.scales import choose_scale
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.ops.loihi import PROGRAM_META
from snnc.ir.rewrite import apply_rules

__all__ = ["choose_scale", "latency", "quantize", "table_lines"]


def quantize(graph: Graph, *, calibration: dict[str, np.ndarray] | None = None,
             input_bits: int | None = None, residual: bool = True, lag_align: bool = True,
             time_origin: bool = True, reader_exp: bool = True, fine_thresholds: bool = True) -> Graph:
    """The graph in Loihi numerics (module doc); ``graph`` is not changed.

    ``calibration`` maps graph inputs to sample arrays; the range of each float value a
    synapse reads is taken from them (else assumed within [-1, 1]). ``input_bits`` is the
    graded-spike width of such inputs (default: per input, the width that balances input
    and weight rounding under the 16-bit bound on a neuron's input). The per-layer report is in
    ``q.meta["loihi"]`` (:func:`table_lines` prints it); ``q.meta["loihi"]["rules"]`` counts
    the rewrites each rule made. ``residual=False`` leaves a residual add that feeds a
    neuron on the host (the rule ``residual-synapses`` off: for comparisons). ``lag_align=False``
    turns ``lag-align`` off: a multi-input op then combines its inputs at their own lags
    (``q.meta["loihi"]["lags"]`` lists every op with inputs at different lags, and what the
    rule did or why it could not). ``time_origin=False`` turns ``time-origin`` off: ECMT's
    running means and products inside the run then count the lag's empty steps too.
    ``reader_exp=False`` turns ``reader-exponent`` off: a Dense reading graded spikes into a
    multi-threshold neuron then keeps ``weight_exp = 0`` (its weights bound by the 16-bit input).
    ``fine_thresholds=False``: multi-threshold neurons' integer thresholds within 5% of k·θ
    and 16 encoder levels in the smallest θ, not 0.5% and 256 (``quant_mt.PRECISION``).
    """
    if input_bits is not None and not 2 <= input_bits <= widths.WIDTHS["num_message_bits"].hi:
        raise SnncError(f"input_bits={input_bits}: Loihi's graded spikes carry 2..24 bits")
    _check_supported(graph)
    quantiser = Quantiser(graph, calibration, input_bits, reader_exp, fine_thresholds)
    # the residual rule first: it copies the synapses of a residual add into the neuron the
    # add feeds, and the layers it copied from may then pair with their own neurons
    first = quant_residual.rule(quantiser)
    rewritten, log = apply_rules(graph, [first] if residual else [])
    declined = {e.node: e for e in log.declined}
    rewritten, log = apply_rules(rewritten, quantiser.rules(), log)
    declined = {**{e.node: e for e in log.declined}, **{k: e for k, e in declined.items() if k in rewritten
                                                         and rewritten.node(k).op in NEURONS}}
    dequant_payloads(quantiser, rewritten)
    last = quant_lag.rule(quantiser)     # last: the lags are those of the finished program
    rewritten, aligned = apply_rules(rewritten, [last] if lag_align else [])
    rewritten, aligned = apply_rules(rewritten, [quant_lag.origin_rule()] if time_origin else [], aligned)
    q = _in_order(rewritten, quantiser)
    lag = latency(q)
    for node in q.nodes:        # each neuron starts when its first input arrives
        if node.op in ("loihi_lif", "loihi_mt"):
            node.attrs["start"] = lag[node.inputs[0]]
    host = quantiser.notes + [(quantiser.pos[e.node], {"node": e.node, "reason": e.reason}) for e in declined.values()]
    q.meta[PROGRAM_META] = {
        "layers": quantiser.layers, "host": [entry for _, entry in sorted(host, key=lambda h: h[0])],
        "inputs": {k: {"levels": v[0], "scale": v[1], "max_level": v[2], "bits": v[3]}
                   for k, v in quantiser.encoded.items()},
        "rules": {rule.name: log.count(rule.name) for rule in [first, *quantiser.rules()] if log.count(rule.name)},
        "lags": [quantiser.lag_notes[n.name] for n in q.nodes if n.name in quantiser.lag_notes]}
    for name in (last.name, quant_lag.ORIGIN):
        if aligned.count(name):
            q.meta[PROGRAM_META]["rules"][name] = aligned.count(name)
    found = widths.problems(q)
    if found:   # the scales are chosen to fit: this is a bug, said plainly
        raise SnncError(f"quantised graph {graph.name!r} exceeds Loihi's bit widths", problems=found)
    return q


def _check_supported(graph: Graph) -> None:
    """Unfolded BatchNorm and soft reset, every one listed at once."""
    found = []
    for node in graph.nodes:
        src = graph.producer(node.inputs[0]) if node.inputs else None
        if node.op == "batchnorm" and src is not None and src.op in SYNAPSES:
            found.append(f"batchnorm {node.name!r} after {src.name!r} is not folded: run fold-bn first "
                         "(snnc.passes.fold_bn.fold_batchnorm, or snnc opt --passes fold-bn)")
        if node.op in NEURONS and node.attrs["soft_reset"]:
            found.append(f"{node.op} {node.name!r} has a soft reset (V -= θ); Lava's LIF only resets to 0: "
                         "retrain with a hard reset (v_reset=0.0)")
    if found:
        raise UnsupportedError(f"graph {graph.name!r} cannot be quantised for Loihi ({len(found)} problems)",
                               problems=found)


def _in_order(graph: Graph, quantiser: Quantiser) -> Graph:
    """``graph`` rebuilt with each node where the float node it came from was (the nodes a
    rule put in place of one in the order it put them): a program lists its nodes and
    values in the order of the float graph, whatever order the rules ran in."""
    def place(node: Node) -> tuple[int, int]:
        return quantiser.order.get(node.name) or (quantiser.pos[node.name], 0)

    q = Graph(graph.name)
    q.meta = dict(graph.meta)
    for name in graph.inputs:
        q.add_input(_copy_value(graph.values[name]))
    # the float order where the inputs allow it: an encoder a later rule made (at its own
    # node's place) for a value an earlier-placed synapse also reads still comes first
    names = nx.lexicographical_topological_sort(graph.nx, key=lambda name: place(graph.node(name)))
    for node in (graph.node(name) for name in names):
        q.add_node(Node(node.name, node.op, list(node.inputs), list(node.outputs), dict(node.attrs),
                        dict(node.params), node.source), [_copy_value(graph.values[o]) for o in node.outputs])
    q.outputs = list(graph.outputs)
    return q


def _copy_value(v: Value) -> Value:
    return Value(v.name, v.shape, v.dtype, v.kind, v.axes)
