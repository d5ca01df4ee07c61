"""The quantiser's rule for a residual add feeding a neuron: multi-input synapses.

    residual-synapses
        %a = conv|linear(%s1); %b = conv|linear(%s2)      (or %b: a spike stream)
        %r = add(%a, %b); %y = lif|if(%r)
        ->  %a' = loihi_conv|loihi_dense(%s1); %b' = loihi_conv|loihi_dense(%s2)
            %d = add(%a', %b')       (a dendritic sum: two connections into one in-port)
            %y = loihi_lif(%d)

Spikingformer's membrane shortcut (Eq. 6-7, ``x + ConvBN(SN(x))``) is an analog residual
stream that only ever enters a neuron. A neuron's input is linear in the two terms,

    X = (W1·s1 + b1) + (W2·s2 + b2),

and Loihi sums the input of every synapse into a compartment's dendrite (Lava's
``PyInPort.recv`` adds every connection), so the neuron runs on chip with both synapses
into it. With one scale k for both (the mapping of :mod:`snnc.backends.loihi.quantize`):

    a = W1_int·s1 + W2_int·s2,   W_i_int ≈ k·c·W_i,   bias ≈ 64·k·c·(b1 + b2)

where k keeps the *sum* of both worst-case inputs within the neuron's 16 bits
(:func:`scales.choose_scale` over both weight sets side by side). A spike-stream term is an
identity synapse (weight c per neuron, exact: an even integer on the grid when k·c is).

The synapses are this neuron's own copies: the float residual value and the layers that
made it stay for their other readers (the next residual add, the head), and go once
nothing reads them (:func:`drop_dead`). A kernel-1 conv1d over ``[C, L]`` whose output is
reshaped to the neuron's ``[O, H, W]`` (Spikingformer's attention projection) is copied as a
1×1 conv2d over its input reshaped to ``[C, H, W]``: the same products, in the neuron's
conv layout (Lava cannot reorder neurons between a conv1d and a conv2d without a synapse),
so that input must come from the host.

Both synapses deliver one step late, as any; the neuron starts at the later of the two
lags (:func:`snnc.backends.loihi.latency.latency`), exactly as it did on the host.
"""

from __future__ import annotations

import numpy as np

from snnc.backends.loihi import quant_rules as qr
from snnc.backends.loihi import scales
from snnc.backends.loihi.quant_mt import CHIP_OPS, LAVA_CONV_AXIS_MAX
from snnc.ir.graph import Graph, Node
from snnc.ir.rewrite import Match, Pat, Rule

#: ops a dead chain may hold once the neuron no longer reads the float residual value
DEAD_OPS = frozenset({"add", "reshape", "loihi_dequant", "loihi_dense", "loihi_conv", "loihi_encode", "conv", "linear"})


def _base(graph: Graph, value: str) -> tuple[str, Node | None]:
    """``value`` before any reshape, and its producer."""
    node = graph.producer(value)
    while node is not None and node.op == "reshape":
        value = node.inputs[0]
        node = graph.producer(value)
    return value, node


def _pointwise_conv1d(syn: Node) -> bool:
    w = syn.params["weight"]
    return (syn.op == "conv" and w.ndim == 3 and w.shape[2] == 1 and syn.attrs["group"] == 1
            and list(syn.attrs["strides"] or [1]) == [1] and not any(syn.attrs["pads"] or [])
            and list(syn.attrs["dilations"] or [1]) == [1])


def _may_be_on_chip(graph: Graph, value: str) -> bool:
    """Whether ``value`` is, or may become, chip spikes (this rule runs before the others):
    a chip op's output, a max-pool's, or a neuron's that reads a synapse."""
    _, node = _base(graph, value)
    if node is None:
        return False
    src = graph.producer(node.inputs[0]) if node.inputs else None
    return node.op in CHIP_OPS or node.op == "maxpool" or (
        node.op in qr.NEURONS and src is not None and src.op in qr.SYNAPSES)


def terms(q, graph: Graph, add: Node) -> list[tuple[str, object]] | str:
    """Each input of ``add`` as ``("synapse", float node)``, ``("conv1d", float node)`` (a
    pointwise conv1d to copy as a conv2d) or ``("spikes", value)``; else why not."""
    g = q.g
    shape = g.values[add.outputs[0]].shape
    if len(set(add.inputs)) != 2 or not g.values[add.outputs[0]].timed:
        return "not a sum of two different streams over time"
    found = []
    for v in add.inputs:
        if g.values[v].shape != shape:
            return f"{v!r} {list(g.values[v].shape)} is broadcast to {list(shape)}: no synapse per neuron"
        base, src = _base(g, v)
        if src is not None and src.op in qr.SYNAPSES and g.values[src.inputs[0]].timed:
            geometry = qr.synapse_geometry(src)
            if isinstance(geometry, str):
                return f"its term {src.name!r}: {geometry}"
            if g.values[base].shape == shape:
                found.append(("synapse", src))
                continue
            if not (_pointwise_conv1d(src) and len(shape) == 3):
                return f"its term {src.name!r} makes {list(g.values[base].shape)}, reshaped to {list(shape)}: " \
                       "only a kernel-1 conv1d is copied in the neuron's shape"
            found.append(("conv1d", src))
        elif g.values[v].timed and q.spikes(graph, v):
            found.append(("spikes", v))
        else:
            return f"its term {v!r} ({src.op if src else 'graph input'}) is neither a synaptic layer's output " \
                   "nor spikes"
    return found


def why_not(q, graph: Graph, m: Match) -> str | None:
    found = terms(q, graph, m["add"])
    if isinstance(found, str):
        return found
    for what, syn in found:
        if what == "conv1d" and _may_be_on_chip(graph, syn.inputs[0]):
            return f"its term {syn.name!r} is a conv1d over chip spikes: copied as a conv2d it would need Lava " \
                   "to reorder those neurons"
    return None


def _reshaped(q, graph: Graph, at: Node, x: str, shape) -> str:
    name = graph.fresh_name(f"{x}.as{'x'.join(map(str, shape))}")
    q.put(graph, at, "reshape", [x], name=name, outputs=[name], attrs={"shape": list(shape)})
    return name


def _identity(shape) -> tuple[str, np.ndarray, dict]:
    """An identity synapse over ``shape``: a depthwise 1×1 conv (conv layout), or an
    identity matrix over the last axis when Lava's int8 conv geometry cannot hold it."""
    if len(shape) in (2, 3) and max(shape) <= LAVA_CONV_AXIS_MAX:
        spatial = len(shape) - 1
        return "conv", np.ones((shape[0], 1) + (1,) * spatial), {
            "strides": [1] * spatial, "pads": [0] * 2 * spatial, "dilations": [1] * spatial, "group": shape[0]}
    return "linear", np.eye(shape[-1]), {}


def fuse(q, graph: Graph, m: Match) -> str | None:
    """residual-synapses (module doc): both terms' synapses into one chip neuron; declines
    when the threshold is finer than one integer step at the scale both allow."""
    neuron, add = m["neuron"], m["add"]
    c, theta, tau = scales.neuron_terms(neuron)
    shape = q.g.values[add.outputs[0]].shape
    before = set(q.encoded)
    parts = []          # (float op, input value, weights per input level, bias, x_max, bits, geometry, from)
    for what, term in terms(q, graph, add):
        if what == "spikes":
            op, w, geometry = _identity(shape)
            x, per_level, x_max, bits = q.source(graph, Node(neuron.name, op, [term], [term]), w, theta)
            parts.append((op, x, c * w / per_level, None, x_max, bits, geometry, term))
            continue
        x, w, b, x_max, bits = q._weights(graph, term, c, theta)
        geometry = qr.synapse_geometry(term)
        if what == "conv1d":     # its input is reshaped once the scale is found (nothing made before)
            w = w[..., None]
            geometry = {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1}
            x = (x, (q.g.values[term.inputs[0]].shape[0], *shape[1:]))
        parts.append(("conv" if what == "conv1d" else term.op, x, w, b, x_max, bits, geometry, term.name))
    flat = np.concatenate([p[2].reshape(p[2].shape[0], -1) for p in parts], axis=1)
    x_max = np.concatenate([np.full(p[2][0].size, p[4]) for p in parts])
    biases = [p[3] for p in parts if p[3] is not None]
    b = np.sum(biases, axis=0) if biases else None
    bias_max = float(np.abs(b).max(initial=0.0)) if b is not None else 0.0
    try:
        k, theta_int, flat_int, limit = scales.choose_scale(flat, theta, x_max, neuron.name, bias_max)
    except scales.ThresholdTooFine as err:
        q.undo_encoders(graph, before)
        return f"{err} (on the host, in float)"
    graph.remove_node(neuron.name, drop_outputs=False)
    currents, start, errors = [], 0, []
    for op, x, w, _, _, bits, geometry, origin in parts:
        if isinstance(x, tuple):
            x = _reshaped(q, graph, neuron, *x)
        w_int = flat_int[:, start:start + w[0].size].reshape(w.shape).astype(np.int32)
        start += w[0].size
        errors.append(scales.rel_error(w_int / k, w))
        name = graph.fresh_name(f"{neuron.name}.from.{origin}")
        syn = Node(name, op, [x], [name], geometry)
        q.put(graph, neuron, qr.SYNAPSES[op], [x], name=name, outputs=[name], source=neuron.source,
              attrs=qr._synapse_attrs(syn, geometry, bits, w_int), params={"weight": w_int})
        currents.append(name)
    total = graph.fresh_name(f"{add.name}.dendrites")
    q.put(graph, neuron, "add", currents, name=total, outputs=[total], source=add.source)
    params = {}
    if b is not None:
        mant, exp, bias_err = scales.bias_parts(64.0 * k * b, neuron.name)
        channel = (-1,) + (1,) * (len(shape) - 1)
        params = {"bias_mant": mant.reshape(channel), "bias_exp": exp.reshape(channel)}
    else:
        bias_err = 0.0
    dv = scales.decay(tau)
    q.put(graph, neuron, "loihi_lif", [total], name=neuron.name, outputs=[neuron.outputs[0]], source=neuron.source,
          attrs={"du": 4095, "dv": dv, "vth": theta_int - 1}, params=params)
    q.layers.append({
        "layer": " + ".join(currents), "op": "+".join(p[0] for p in parts), "neuron": neuron.name,
        "neuron_op": neuron.op, "input": "/".join("spikes" if p[5] == 0 else f"graded({p[5]})" for p in parts),
        "scale": k, "limited_by": limit, "weight_error": max(errors), "weight_levels": int(np.unique(flat_int).size),
        "theta": theta, "vth": theta_int - 1, "threshold_error": abs(theta_int / k - theta), "tau": tau,
        "du": 4095, "dv": dv, "decay_error": 0.0 if tau is None else abs(dv / 4096.0 - 1.0 / tau),
        "bias_error": bias_err / (64.0 * k),
        "notes": [f"residual add {add.name!r} as {len(parts)} synapses into one neuron (dendritic sum; terms "
                  f"{', '.join(repr(p[7]) for p in parts)})"]})
    drop_dead(q, graph, add.outputs[0])


def drop_dead(q, graph: Graph, value: str) -> None:
    """Remove the node making ``value`` when nothing reads it, and so on up its inputs
    (only ops of :data:`DEAD_OPS`: the float residual, its reshapes, read-backs, synapses)."""
    todo = [value]
    while todo:
        v = todo.pop()
        node = graph.producer(v)
        if node is None or node.op not in DEAD_OPS or graph.users(v) or v in graph.outputs \
                or any(graph.users(o) or o in graph.outputs for o in node.outputs):
            continue
        graph.remove_node(node.name)
        q.layers[:] = [r for r in q.layers if r["layer"] != node.name]
        todo.extend(node.inputs)


def rule(q) -> Rule:
    timed = lambda g, n: q.g.values[n.inputs[0]].timed if n.inputs[0] in q.g.values else False   # noqa: E731
    return Rule("residual-synapses", Pat(set(qr.NEURONS), name="neuron", where=timed,
                                         inputs=[Pat("add", name="add")]),
                lambda g, m: fuse(q, g, m), check=lambda g, m: why_not(q, g, m))
