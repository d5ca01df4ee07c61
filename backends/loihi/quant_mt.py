"""The quantiser's rewrite for ECMT's multi-threshold neuron, and the read-back of its payload.

    synapse-multi-threshold
        %a = conv|linear(%s); %y = multi_threshold(%a)
        ->  %a = loihi_conv|loihi_dense(%s); %y = loihi_mt(%a)       (%y: integer payload ±λ_int)

The synapse and its neuron share one scale k (:func:`scales.mt_scale`): W_int ≈ k·W, the
float bias becomes the neuron's integer bias rint(k·b) (added to v every step), and
θ_int = rint(k·θ) per sign (and channel), so the integer neuron fires where the float one
does up to that rounding (:mod:`snnc.ir.ops.loihi_mt`). Its readers:

- a synapse reading ``%y`` (or a reshape of it) reads the graded payload on chip:
  ``num_message_bits`` = the payload's bits (sign + the largest level's), weights per
  payload unit (W/k); the quantisation table lists it as ``graded(bits)``;
    encoded-multi-threshold
        %y = multi_threshold(%x)   (x: a float value on the host, e.g. ECMT's delta(relu(cum_mean)))
        ->  %e = loihi_encode(%x); %i = loihi_conv[1×1 depthwise, ones](%e) (or, for a vector,
            loihi_dense[identity]); %y = loihi_mt(%i)

The second is how ECMT's ReLU networks get their neurons on chip: there every neuron reads
an expectation-compensated value computed on the host, never a synapse. ``x`` is injected
as 8- to 16-bit graded spikes (the fewest bits with 256 levels in the smallest threshold, :data:`PRECISION`;
``input_bits`` when given) and an identity synapse feeds the
neuron (one synapse of weight 1 per neuron: a = the input level), so k = the encoder's levels per
float unit. The readers of a payload, either way:

- anything else (a host op: ECMT's cum_mean, a spiking matmul) reads
  ``loihi_dequant(%y)`` (scale 1/k), made once per value by :func:`dequant_payloads`.
"""

from __future__ import annotations

import numpy as np

from snnc.backends.loihi import scales
from snnc.ir.graph import Graph, Node
from snnc.ir.ops.loihi_mt import payload_bits
from snnc.ir.rewrite import Match, single_use

#: graded-spike width of a float value a multi-threshold neuron reads (encoded-multi-threshold)
ENCODE_BITS = 8
#: (input levels the encoder puts in the smallest threshold, at least (up to 16 bits); how far
#: (relative) a threshold may move to share the payload unit of the others), by precision:
#: ``fine`` (the option ``fine_thresholds``, default) or ``coarse`` (what snnc did first).
#: The float neuron amplifies small differences: the digits ViT's float SNN itself answers
#: differently on 13% of its logits' steps when its input moves by 1% (bench_ecmt_loihi.py),
#: so a ladder 5% off and 16 input levels per θ (first layer: 96% of levels, 0.106 error of
#: the running mean) were the largest error left once reader-exponent let the readers take
#: the wider payloads that 0.5% and 256 levels cost (100%, 0.025): docs/loihi.md.
PRECISION = {"fine": (256, 0.005), "coarse": (16, 0.05)}
THETA_STEPS, THETA_TOLERANCE = PRECISION["fine"]
#: the longest axis an identity conv may have (Lava's Conv: int8 geometry, int8 groups)
LAVA_CONV_AXIS_MAX = 127
#: values these make are on the chip (integers): a neuron reading one is not encoded
CHIP_OPS = ("loihi_dense", "loihi_conv", "loihi_lif", "loihi_mt")
#: the ops that read a payload as it is (on chip): the others get it dequantised
PAYLOAD_READERS = ("reshape", "loihi_dense", "loihi_conv")


def mt_after(graph: Graph, syn: Node) -> Node | None:
    """The multi-threshold neuron that alone reads ``syn``'s output."""
    readers = graph.users(syn.outputs[0])
    return readers[0] if single_use(graph, syn) and readers[0].op == "multi_threshold" else None


def payload_of(graph: Graph, value: str) -> Node | None:
    """The ``loihi_mt`` whose payload ``value`` is (itself, or through reshapes), else None."""
    node = graph.producer(value)
    while node is not None and node.op == "reshape":
        node = graph.producer(node.inputs[0])
    return node if node is not None and node.op == "loihi_mt" else None


def _views(graph: Graph, value: str) -> list[str]:
    """``value`` and every reshape of it (transitively)."""
    out, todo = [], [value]
    while todo:
        v = todo.pop()
        out.append(v)
        todo += [r.outputs[0] for r in graph.users(v) if r.op == "reshape"]
    return out


def thresholds(k: float, thp: np.ndarray, thn: np.ndarray,
               tolerance: float = THETA_TOLERANCE) -> tuple[np.ndarray, np.ndarray, int]:
    """``(θ+_int, θ−_int, unit)``: θ_int ≈ k·θ (>= 1), each a multiple of the payload
    unit, the largest unit (at most the smallest θ_int) that moves no θ by more than
    ``tolerance`` of itself (:data:`PRECISION`). One θ on both signs: unit = θ_int, exact, and the
    payload is ±gap^k; two-sided or per-channel θ: a coarser unit keeps the payload, and
    so the worst-case input of its readers, small (their weights keep their bits)."""
    both = k * np.concatenate([thp, thn])
    smallest = max(1, int(np.rint(both.min())))
    for unit in range(smallest, 0, -1):
        ints = np.maximum(np.rint(both / unit), 1) * unit
        if np.all(np.abs(ints - both) <= tolerance * both) or unit == 1:
            break
    tp, tn = (np.maximum(np.rint(k * th / unit), 1).astype(np.int64) * unit for th in (thp, thn))
    return tp.astype(np.int32), tn.astype(np.int32), unit


def _input_max(w_int: np.ndarray, x_max: int, bias, exp: int = 0) -> int:
    """The largest |a + bias| the synapse can deliver to the neuron in one step (its sum
    shifted by ``exp``, Lava's weight_exp)."""
    from snnc.backends.loihi.widths import shifted, worst_input

    return shifted(worst_input(w_int, x_max), exp) + (0 if bias is None else int(np.abs(bias).max(initial=0)))


def _channel_shaped(values: np.ndarray, rank: int) -> np.ndarray:
    """θ per channel (the first per-sample axis, as the float neuron has it), or a scalar."""
    return values.reshape(()) if values.size == 1 else values.reshape((-1,) + (1,) * (rank - 1))


def why_not(graph: Graph, m: Match) -> str | None:
    mt = mt_after(graph, m["syn"])
    gap = float(mt.attrs.get("gap", 2.0))
    if gap != int(gap) or gap < 2:
        return f"multi_threshold {mt.name!r} has gap {gap:g}: its integer ladder needs an integer gap >= 2"
    if mt.outputs[0] in graph.outputs:
        return f"multi_threshold {mt.name!r}'s graded spikes are a graph output (read it through a layer)"
    return None


def fuse_mt(q, graph: Graph, m: Match) -> None:
    """synapse-multi-threshold (module doc); ``q``: the :class:`~.quant_rules.Quantiser`."""
    from snnc.backends.loihi.quant_rules import SYNAPSES, _per_channel, _synapse_attrs, synapse_geometry

    syn = m["syn"]
    mt = mt_after(graph, syn)
    levels, gap = int(mt.attrs["levels"]), int(float(mt.attrs.get("gap", 2.0)))
    thp = np.asarray(mt.attrs["theta_pos"], np.float64).reshape(-1)
    thn = np.asarray(mt.attrs["theta_neg"], np.float64).reshape(-1)
    x, w, b, x_max, bits = q._weights(graph, syn, 1.0, None)
    shift = q.reader_exp and syn.op == "linear" and bits > 0      # reader-exponent: a Dense reading graded spikes
    k, w_int, limit, exp = scales.mt_scale(w, np.concatenate([thp, thn]), levels, gap, x_max, mt.name, shift)
    rank = q.rank(mt.inputs[0])
    tp, tn, unit = thresholds(k, thp, thn, PRECISION[q.precision][1])
    params = {"theta_pos": _channel_shaped(tp, rank), "theta_neg": _channel_shaped(tn, rank)}
    if b is not None:
        params["bias"] = _per_channel(np.rint(k * b).astype(np.int32), syn, rank)
    graph.remove_node(syn.name, drop_outputs=False)
    graph.remove_node(mt.name, drop_outputs=False)
    q.put(graph, syn, SYNAPSES[syn.op], [x], name=syn.name, outputs=[syn.outputs[0]], source=syn.source,
          attrs={**_synapse_attrs(syn, synapse_geometry(syn), bits, w_int), "weight_exp": exp},
          params={"weight": w_int})
    node = q.put(graph, syn, "loihi_mt", [syn.outputs[0]], name=mt.name, outputs=[mt.outputs[0]],
                 source=mt.source, attrs={"levels": levels, "gap": gap, "unit": unit, "scale": unit / k,
                                          "input_max": _input_max(w_int, x_max, params.get("bias"), exp)},
                 params=params)
    _refresh_views(graph, mt.outputs[0])
    theta_err = max(float(np.abs(tp / k - thp).max()), float(np.abs(tn / k - thn).max()))
    q.layers.append({
        "layer": syn.name, "op": syn.op, "neuron": mt.name, "neuron_op": "multi_threshold",
        "input": "spikes" if bits == 0 else f"graded({bits})", "scale": k, "limited_by": limit,
        "weight_error": scales.rel_error(w_int * 2.0 ** exp / k, w), "weight_levels": int(np.unique(w_int).size),
        "weight_exp": exp, "theta": float(thp.max()), "threshold_error": theta_err,
        "bias_error": 0.0 if b is None else 0.5 / k,
        "output": f"graded({payload_bits(node)})",
        "notes": [f"multi-threshold neuron on chip (microcoded on Loihi 2): {levels} levels per sign, "
                  f"θ+ {sorted(set(tp.tolist()))[:4]} θ− {sorted(set(tn.tolist()))[:4]} integer units, "
                  f"graded payload of {payload_bits(node)} bits"]})


def _ladder_fits(k: float, thetas: np.ndarray, levels: int, gap: int) -> str | None:
    from snnc.ir.ops.loihi_mt import V_MAX

    if np.rint(k * thetas.min()) < 1:
        return f"threshold {thetas.min():g} is below one input level ({1 / k:.3g})"
    if np.rint(k * thetas.max()) * gap ** (levels - 1) > V_MAX:
        return f"its largest level exceeds the 24-bit membrane at {k:.3g} levels per unit"
    return None


def why_not_encoded(q, graph: Graph, m: Match) -> str | None:
    mt = m["mt"]
    gap = float(mt.attrs.get("gap", 2.0))
    if gap != int(gap) or gap < 2:
        return f"gap {gap:g}: its integer ladder needs an integer gap >= 2"
    if mt.outputs[0] in graph.outputs:
        return "its graded spikes are a graph output (read it through a layer)"
    x = mt.inputs[0]
    from snnc.backends.loihi.quant_rules import chip_streams

    src = graph.producer(x)
    if payload_of(graph, x) is not None or chip_streams(graph, x) or (src is not None and src.op in CHIP_OPS):
        return f"it reads {x!r} on the chip ({src.op}), not a float value the host can encode"
    thetas = _thetas(mt)
    k = q.encoded[x][1] if x in q.encoded else scales.levels(q.input_range(x), _encode_bits(q, x, thetas))[0]
    return _ladder_fits(k, thetas, int(mt.attrs["levels"]), int(gap))


def _thetas(mt: Node) -> np.ndarray:
    return np.concatenate([np.asarray(mt.attrs[t], np.float64).reshape(-1) for t in ("theta_pos", "theta_neg")])


def _encode_bits(q, x: str, thetas: np.ndarray) -> int:
    """``input_bits`` when given; else the fewest bits from 8 up to 16 that put at least
    :data:`PRECISION`'s input levels in the smallest threshold (a threshold of few levels
    fires on the encoder's rounding, not on the input)."""
    if q.input_bits:
        return q.input_bits
    steps = PRECISION[q.precision][0]
    for bits in range(ENCODE_BITS, 17):
        if scales.levels(q.input_range(x), bits)[0] * float(thetas.min()) >= steps:
            return bits
    return 16


def encode_mt(q, graph: Graph, m: Match) -> None:
    """encoded-multi-threshold (module doc): the neuron on chip behind an identity synapse
    reading its float input as graded spikes; k = the encoder's levels per float unit."""
    mt = m["mt"]
    x = mt.inputs[0]
    levels, gap = int(mt.attrs["levels"]), int(float(mt.attrs.get("gap", 2.0)))
    if x not in q.encoded:
        bits = _encode_bits(q, x, _thetas(mt))
        scale, top, (lo, hi) = scales.levels(q.input_range(x), bits)
        name = graph.fresh_name(f"{x}.encode")
        q.put(graph, mt, "loihi_encode", [x], name=name, outputs=[name],
              attrs={"scale": float(scale), "lo": lo, "hi": hi})
        q.encoded[x] = (name, float(scale), top, bits)
    enc, k, _, bits = q.encoded[x]
    rank = q.rank(x)
    width = q.g.values[x].shape[-1]
    graph.remove_node(mt.name, drop_outputs=False)
    name = graph.fresh_name(f"{mt.name}.in")
    # [C, L] or [C, H, W]: a 1×1 depthwise conv, one synapse per neuron. Lava's Conv keeps
    # its geometry in int8, which (numpy 2) overflows on an axis of 128 or more: then dense
    if rank in (2, 3) and max(q.g.values[x].shape) <= LAVA_CONV_AXIS_MAX:
        channels, spatial = q.g.values[x].shape[0], rank - 1
        syn = q.put(graph, mt, "loihi_conv", [enc], name=name, outputs=[name], source=mt.source,
                    attrs={"num_message_bits": bits, "group": channels, "strides": [1] * spatial,
                           "pads": [0] * 2 * spatial, "dilations": [1] * spatial},
                    params={"weight": np.ones((channels, 1) + (1,) * spatial, np.int32)})
    else:                   # an identity matrix over the last axis
        syn = q.put(graph, mt, "loihi_dense", [enc], name=name, outputs=[name], source=mt.source,
                    attrs={"num_message_bits": bits, "sign_mode": "excitatory"},
                    params={"weight": np.eye(width, dtype=np.int32)})
    thp = np.asarray(mt.attrs["theta_pos"], np.float64).reshape(-1)
    thn = np.asarray(mt.attrs["theta_neg"], np.float64).reshape(-1)
    tp, tn, unit = thresholds(k, thp, thn, PRECISION[q.precision][1])
    node = q.put(graph, mt, "loihi_mt", [syn.outputs[0]], name=mt.name, outputs=[mt.outputs[0]], source=mt.source,
                 attrs={"levels": levels, "gap": gap, "unit": unit, "scale": unit / k,
                        "input_max": int(q.encoded[x][2])},
                 params={"theta_pos": _channel_shaped(tp, rank), "theta_neg": _channel_shaped(tn, rank)})
    _refresh_views(graph, mt.outputs[0])
    theta_err = max(float(np.abs(tp / k - thp).max()), float(np.abs(tn / k - thn).max()))
    q.layers.append({
        "layer": syn.name, "op": "identity", "neuron": mt.name, "neuron_op": "multi_threshold",
        "input": f"graded({bits})", "scale": k, "limited_by": "input levels", "weight_error": 0.0,
        "weight_levels": 1, "theta": float(thp.max()), "threshold_error": theta_err,
        "output": f"graded({payload_bits(node)})",
        "notes": [f"multi-threshold neuron on chip (microcoded on Loihi 2) behind an identity synapse: its float "
                  f"input {x!r} is injected as {bits}-bit graded spikes; {levels} levels per sign, θ+ "
                  f"{sorted(set(tp.tolist()))[:4]} θ− {sorted(set(tn.tolist()))[:4]} input levels, graded "
                  f"payload of {payload_bits(node)} bits"]})


def _refresh_views(graph: Graph, value: str) -> None:
    """Reshapes of a payload carry the integer payload now (kind and dtype)."""
    out = graph.values[value]
    for v in _views(graph, value)[1:]:
        graph.values[v].kind, graph.values[v].dtype = out.kind, out.dtype


def source(graph: Graph, value: str):
    """``(value, levels per float unit, max |payload|, message bits)`` of a payload input,
    or None when ``value`` is not one."""
    from snnc.ir.ops.loihi_mt import largest_payload

    mt = payload_of(graph, value)
    if mt is None:
        return None
    return value, 1.0 / float(mt.attrs["scale"]), largest_payload(mt), payload_bits(mt)


def dequant_payloads(q, graph: Graph) -> None:
    """Every host reader of a ``loihi_mt`` payload (or of a reshape of one) reads it
    dequantised: one ``loihi_dequant`` (scale 1/k) per value, placed after its producer."""
    for node in [n for n in graph.nodes if n.op == "loihi_mt"]:
        for v in _views(graph, node.outputs[0]):
            host = [r for r in graph.users(v) if r.op not in PAYLOAD_READERS]
            if not host:
                continue
            name = graph.fresh_name(f"{v}.float")
            keep = [r.name for r in graph.users(v) if r.op in PAYLOAD_READERS]
            q.put(graph, graph.producer(v), "loihi_dequant", [v], name=name, outputs=[name],
                  attrs={"scale": float(node.attrs["scale"])})
            graph.replace_uses(v, name, exclude=keep + [name])
            graph.outputs = [v if o == name else o for o in graph.outputs]
