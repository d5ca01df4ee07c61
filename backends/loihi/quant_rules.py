"""The Loihi quantiser's rewrites, as rules on :mod:`snnc.ir.rewrite`.

Each rule, ``# before -> after``:

    synapse-neuron  %a = conv|linear(%s); %y = lif|if(%a)  ->  %a = loihi_conv|loihi_dense(%s); %y = loihi_lif(%a)
    bare-synapse    %a = conv|linear(%s)   (s: spikes,      ->  %i = loihi_conv|loihi_dense(%s); %a = loihi_dequant(%i)
                    no neuron reads %a alone)
    spike-maxpool   %y = maxpool(%s)  (s: on-chip spikes)   ->  %c = loihi_conv[ones, group=C](%s); %y = loihi_lif[vth=0](%c)
    (spike sums)    %r = add(%s1, %s2) (on-chip spikes) read by a synapse: stays an ``add``, on chip: both
                    spike streams connect to the synapse's input port, which sums them (graded, 2 bits)
    synapse-multi-threshold  %a = conv|linear(%s); %y = multi_threshold(%a)  ->  loihi_conv|loihi_dense; loihi_mt
                    (ECMT's neuron, graded payload; quant_mt.py, which also dequantises it for host readers)
    encoded-multi-threshold  %y = multi_threshold(%x) (x: float)  ->  %e = loihi_encode(%x); loihi_dense[identity](%e); loihi_mt
    residual-synapses  %r = add(conv|linear(%s1), conv|linear(%s2) or spikes); %y = lif|if(%r)
                    ->  two loihi synapses into one loihi_lif (a dendritic sum; quant_residual.py,
                    applied first, on the float graph: see quantize.py)
    avgpool-synapse %p = avgpool(%x); %y = lif|if|multi_threshold(%p)  ->  %p = conv[depthwise, 1/|window|](%x)
                    (exact; synapse-neuron or synapse-multi-threshold then takes it on chip)
    neuron-on-host  %y = lif|if(%a)   (a: not a synapse's)  ->  (stays: the quantiser reports why)

A synapse reading a float value reads ``loihi_encode`` of it instead (integer graded
spikes; one encoder per value). "On-chip spikes" is read off the graph as it is being
rewritten: a ``loihi_lif`` output, or a reshape of one; a ``loihi_mt`` output (or a reshape
of one) is on-chip graded spikes, read with ``num_message_bits`` = its payload's bits. Every rule keeps node and value
names; the numbers come from :mod:`snnc.backends.loihi.scales`. A :class:`Quantiser`
holds what the rules share (the float graph, calibration, the encoders, the per-layer
report) and where each new node goes in the program's order (:meth:`Quantiser.put`).
"""

from __future__ import annotations

import numpy as np

from snnc.backends.loihi import quant_mt, scales
from snnc.ir.build import infer_outputs
from snnc.ir.graph import Graph, Node
from snnc.ir.interpret import Interpreter
from snnc.ir.ops.loihi import sign_mode
from snnc.ir.ops.pool_norm import pool_geometry
from snnc.ir.rewrite import Match, Pat, Rule, single_use

SYNAPSES = {"conv": "loihi_conv", "linear": "loihi_dense"}
NEURONS = ("lif", "if")


def chip_streams(graph: Graph, value: str) -> int:
    """How many on-chip spike streams ``value`` sums: 1 for a ``loihi_lif`` output (or a
    reshape of one); for an ``add`` of such values, of its own shape, the sum (Loihi sums
    every connection into a synapse's input port: the residual add of two spike streams
    is two connections, its count a graded spike); 0 when it is not on chip."""
    node = graph.producer(value)
    while node is not None and node.op == "reshape":
        node = graph.producer(node.inputs[0])
    if node is None:
        return 0
    if node.op == "loihi_lif":
        return 1
    if node.op == "add" and len(set(node.inputs)) == 2 and all(
            graph.values[v].shape == graph.values[node.outputs[0]].shape for v in node.inputs):
        counts = [chip_streams(graph, v) for v in node.inputs]
        return sum(counts) if all(counts) else 0
    return 0


def on_chip(graph: Graph, value: str) -> bool:
    """Whether ``value`` is on-chip binary spikes: a ``loihi_lif`` output, or a reshape of one."""
    return chip_streams(graph, value) == 1


def neuron_after(graph: Graph, syn: Node) -> Node | None:
    """The IF/LIF neuron that alone reads ``syn``'s output (which is no graph output)."""
    readers = graph.users(syn.outputs[0])
    return readers[0] if single_use(graph, syn) and readers[0].op in NEURONS else None


def synapse_geometry(syn: Node) -> dict | str:
    """The loihi op's geometry attributes, or why Lava has no process for this layer."""
    if syn.op == "linear":
        return {}
    w = syn.params["weight"]
    spatial = w.ndim - 2
    pads = tuple(syn.attrs["pads"] or (0,) * 2 * spatial)
    if spatial > 2:
        return f"a {spatial}-d conv: Lava's Conv is 2-d"
    if pads[:spatial] != pads[spatial:]:
        return f"pads {list(pads)} differ per side: Lava's Conv pads both sides alike"
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in syn.attrs.items()
            if k in ("strides", "pads", "dilations", "group")}


def _synapse_attrs(syn: Node, geometry: dict, bits: int, w_int: np.ndarray) -> dict:
    attrs = {**geometry, "num_message_bits": bits}
    if syn.op == "linear":       # Dense truncates by sign mode; say which it will see
        attrs["sign_mode"] = sign_mode(w_int)
    return attrs


def _per_channel(values: np.ndarray, syn: Node, rank: int) -> np.ndarray:
    """A per-output-channel array shaped to broadcast over the layer's output."""
    return values.reshape((-1,) + (1,) * (rank - 1) if syn.op == "conv" else (-1,))


class Quantiser:
    """What the rules share while rewriting one graph (``graph``: the float graph as given)."""

    def __init__(self, graph: Graph, calibration, input_bits: int | None, reader_exp: bool = True,
                 fine_thresholds: bool = True):
        self.g, self.calibration, self.input_bits = graph, calibration, input_bits
        self.reader_exp = reader_exp        # reader-exponent: a Dense reading graded spikes may shift right
        self.precision = "fine" if fine_thresholds else "coarse"     # quant_mt.PRECISION
        self.pos = {node.name: i for i, node in enumerate(graph.nodes)}
        self.order: dict[str, tuple[int, int]] = {}      # new node -> (position of the node it replaces, i)
        self._placed: dict[int, int] = {}                 # position -> nodes put there so far
        self.encoded: dict[str, tuple] = {}   # float value -> (levels value, scale, max |level|, bits)
        self.layers: list[dict] = []
        self.notes: list[tuple[int, dict]] = []           # (position, host entry) made while rewriting
        self.stays: dict[str, str] = {}                   # neuron -> why its layer declined
        self.lag_notes: dict[str, dict] = {}              # multi-input op -> its lags, what lag-align did
        self._ranges: dict[str, tuple[float, float]] = {}

    # -- building --------------------------------------------------------------------
    def put(self, graph: Graph, at: Node, op: str, inputs: list[str], *, name: str, outputs: list[str],
            attrs=None, params=None, source: str = "") -> Node:
        """Add a node where the float node ``at`` was in the program's order (after what it
        put there already); an output named like a value the graph still has (one a
        removed node made) is that value, re-inferred."""
        node = Node(name, op, list(inputs), list(outputs), dict(attrs or {}), dict(params or {}), source)
        fresh = []
        for want in infer_outputs(node, graph.ins(node)):
            have = graph.values.get(want.name)
            if have is None:
                fresh.append(want)
            else:
                have.shape, have.dtype, have.kind, have.axes = want.shape, want.dtype, want.kind, want.axes
        graph.add_node(node, fresh)
        where = self.pos[at.name]
        self.order[name] = (where, self._placed.get(where, 0))
        self._placed[where] = self.order[name][1] + 1
        return node

    def rank(self, value: str) -> int:
        return len(self.g.values[value].shape)

    # -- inputs ----------------------------------------------------------------------
    def reads_spikes(self, graph: Graph, syn: Node) -> bool:
        """Whether ``syn`` reads spikes: binary, or a sum of on-chip spike streams."""
        return self.spikes(graph, syn.inputs[0])

    def spikes(self, graph: Graph, x: str) -> bool:
        """Whether ``x`` is spikes: binary, a sum of on-chip spike streams, or a graded payload."""
        return chip_streams(graph, x) > 0 or quant_mt.payload_of(graph, x) is not None \
            or self.g.values[x].kind.is_binary

    def input_range(self, value: str) -> tuple[float, float] | None:
        """``value``'s (min, max) over the calibration data (the float graph run on it)."""
        if self.calibration is None:
            return None
        if value not in self._ranges:
            if value in self.calibration:
                arr = np.asarray(self.calibration[value])
            else:
                probe = self.g.copy()
                probe.outputs = [value]
                arr = Interpreter(probe).run(self.calibration)[value]
            self._ranges[value] = (float(arr.min()), float(arr.max()))
        return self._ranges[value]

    def source(self, graph: Graph, syn: Node, w: np.ndarray, theta: float | None) -> tuple[str, float, int, int]:
        """(input value, levels per float unit, max |input|, message bits) of a synapse; a
        float input is encoded (once per value) as graded spikes."""
        x = syn.inputs[0]
        payload = quant_mt.source(graph, x)
        if payload is not None:    # a multi-threshold neuron's graded payload, on chip
            return payload
        streams = chip_streams(graph, x)
        if streams > 1:            # a residual sum of spike streams: graded spikes of its count
            return x, 1.0, streams, max(2, streams.bit_length())
        if self.reads_spikes(graph, syn):
            return x, 1.0, 1, 0
        if x not in self.encoded:
            bits = self.input_bits or scales.pick_bits(self.input_range(x), w, theta, x)
            scale, top, (lo, hi) = scales.levels(self.input_range(x), bits)
            name = graph.fresh_name(f"{x}.encode")
            self.put(graph, syn, "loihi_encode", [x], name=name, outputs=[name],
                     attrs={"scale": float(scale), "lo": lo, "hi": hi})
            self.encoded[x] = (name, float(scale), top, bits)
            if self.input_range(x) is None:
                self.notes.append((self.pos[syn.name], {"node": name, "reason": f"{x!r} assumed within [-1, 1]: "
                                                        "pass calibration data for its real range"}))
        return self.encoded[x]

    # -- the rewrites ----------------------------------------------------------------
    def _weights(self, graph: Graph, syn: Node, c: float, theta: float | None):
        w = c * syn.params["weight"].astype(np.float64)
        b = syn.params.get("bias")
        b = None if b is None else c * b.astype(np.float64)
        x, per_level, x_max, bits = self.source(graph, syn, w, theta)
        return x, w / per_level, b, x_max, bits                    # w: per input level

    def undo_encoders(self, graph: Graph, before: set[str]) -> None:
        """Remove the encoders made since ``encoded`` held ``before`` (a rewrite that declines
        after its inputs were encoded leaves nothing behind)."""
        for x in [x for x in self.encoded if x not in before]:
            name = self.encoded.pop(x)[0]
            graph.remove_node(name)
            self.notes[:] = [(at, n) for at, n in self.notes if n["node"] != name]

    def fuse(self, graph: Graph, m: Match) -> str | None:
        """synapse-neuron: the synapse and its neuron on chip, with one scale; declines (the
        layer stays on the host, the reason recorded) when the threshold is finer than one
        integer step at the largest scale the weights allow."""
        syn = m["syn"]
        neuron = neuron_after(graph, syn)
        c, theta, tau = scales.neuron_terms(neuron)
        before = set(self.encoded)
        x, w, b, x_max, bits = self._weights(graph, syn, c, theta)
        bias_max = float(np.abs(b).max(initial=0.0)) if b is not None else 0.0
        try:
            k, theta_int, w_int, limit = scales.choose_scale(w, theta, x_max, neuron.name, bias_max)
        except scales.ThresholdTooFine as err:
            self.undo_encoders(graph, before)
            self.stays[neuron.name] = f"{err} (on the host, in float)"
            return self.stays[neuron.name]
        mant, exp, bias_err = scales.bias_parts(64.0 * k * b, neuron.name) if b is not None else (None, None, 0.0)
        graph.remove_node(syn.name, drop_outputs=False)
        graph.remove_node(neuron.name, drop_outputs=False)
        self.put(graph, syn, SYNAPSES[syn.op], [x], name=syn.name, outputs=[syn.outputs[0]], source=syn.source,
                 attrs=_synapse_attrs(syn, synapse_geometry(syn), bits, w_int), params={"weight": w_int})
        rank = self.rank(neuron.inputs[0])
        params = {} if mant is None else {"bias_mant": _per_channel(mant, syn, rank),
                                          "bias_exp": _per_channel(exp, syn, rank)}
        dv = scales.decay(tau)
        self.put(graph, syn, "loihi_lif", [syn.outputs[0]], name=neuron.name, outputs=[neuron.outputs[0]],
                 source=neuron.source, attrs={"du": 4095, "dv": dv, "vth": theta_int - 1}, params=params)
        notes = []
        if neuron.attrs["v_reset"]:
            notes.append(f"v_reset={neuron.attrs['v_reset']:g} lowered as reset to 0 with threshold θ - v_reset")
        self.layers.append({
            "layer": syn.name, "op": syn.op, "neuron": neuron.name, "neuron_op": neuron.op,
            "input": "spikes" if bits == 0 else f"graded({bits})", "scale": k, "limited_by": limit,
            "weight_error": scales.rel_error(w_int / k, w), "weight_levels": int(np.unique(w_int).size),
            "theta": theta, "vth": theta_int - 1, "threshold_error": abs(theta_int / k - theta),
            "tau": tau, "du": 4095, "dv": dv, "decay_error": 0.0 if tau is None else abs(dv / 4096.0 - 1.0 / tau),
            "bias_error": bias_err / (64.0 * k), "notes": notes})

    def bare(self, graph: Graph, m: Match) -> None:
        """bare-synapse: the synapse on chip, its integer output dequantised on the host."""
        syn = m["syn"]
        x, w, b, x_max, bits = self._weights(graph, syn, 1.0, None)
        shift = self.reader_exp and syn.op == "linear" and bits > 0      # reader-exponent (scales.reader_scale)
        k, w_int, limit, exp = scales.reader_scale(w, x_max, syn.name, shift)
        graph.remove_node(syn.name, drop_outputs=False)
        raw = graph.fresh_name(f"{syn.outputs[0]}.int")
        self.put(graph, syn, SYNAPSES[syn.op], [x], name=syn.name, outputs=[raw], source=syn.source,
                 attrs={**_synapse_attrs(syn, synapse_geometry(syn), bits, w_int), "weight_exp": exp},
                 params={"weight": w_int})
        params = {} if b is None else {"bias": _per_channel(b, syn, self.rank(syn.outputs[0])).astype(np.float32)}
        self.put(graph, syn, "loihi_dequant", [raw], name=graph.fresh_name(f"{syn.name}.dequant"),
                 outputs=[syn.outputs[0]], attrs={"scale": 1.0 / k}, params=params)
        self.layers.append({"layer": syn.name, "op": syn.op, "neuron": None, "neuron_op": None,
                            "input": "spikes" if bits == 0 else f"graded({bits})", "scale": k, "limited_by": limit,
                            "weight_error": scales.rel_error(w_int * 2.0 ** exp / k, w),
                            "weight_levels": int(np.unique(w_int).size), "weight_exp": exp,
                            "notes": ["no neuron reads it: its integer output is read back and dequantised on "
                                      "the host, bias added there"]})

    def maxpool(self, graph: Graph, m: Match) -> None:
        """spike-maxpool: max of spikes = (count of spikes in the window >= 1): an all-ones
        depthwise conv into a neuron that fires at any input and forgets (vth = 0, dv = du = 4095)."""
        pool = m["pool"]
        attrs = pool.attrs
        k = tuple(attrs["kernel_shape"])
        spatial = len(k)
        pads = tuple(attrs["pads"] or (0,) * 2 * spatial)
        channels = self.g.values[pool.inputs[0]].shape[0]
        graph.remove_node(pool.name, drop_outputs=False)
        total = graph.fresh_name(f"{pool.name}.count")
        self.put(graph, pool, "loihi_conv", [pool.inputs[0]], name=total, outputs=[total], source=pool.source,
                 attrs={"strides": list(attrs["strides"] or [1] * spatial), "pads": list(pads),
                        "dilations": list(attrs["dilations"] or [1] * spatial), "group": channels},
                 params={"weight": np.ones((channels, 1, *k), np.int32)})
        self.put(graph, pool, "loihi_lif", [total], name=pool.name, outputs=[pool.outputs[0]], source=pool.source,
                 attrs={"du": 4095, "dv": 4095, "vth": 0})
        self.layers.append({"layer": pool.name, "op": "maxpool", "neuron": pool.name, "neuron_op": "threshold",
                            "input": "spikes", "scale": 1.0, "limited_by": "exact", "weight_error": 0.0,
                            "weight_levels": 1, "vth": 0, "du": 4095, "dv": 4095,
                            "notes": ["all-ones depthwise conv into a neuron that fires at any spike (exact)"]})

    def avgpool(self, graph: Graph, m: Match) -> None:
        """avgpool-synapse: an average pool a neuron reads is a depthwise conv of weight
        1/|window| (exact with zero padding counted): synapse-neuron (or the multi-threshold
        rule) then puts it on chip as the neuron's synapse, instead of a host op before it."""
        pool = m["pool"]
        k, s, p, d = pool_geometry(pool, len(pool.attrs["kernel_shape"]))
        channels = self.g.values[pool.inputs[0]].shape[0]
        graph.remove_node(pool.name, drop_outputs=False)
        self.put(graph, pool, "conv", [pool.inputs[0]], name=pool.name, outputs=[pool.outputs[0]],
                 source=pool.source, attrs={"strides": list(s), "pads": list(p), "dilations": list(d),
                                            "group": channels},
                 params={"weight": np.full((channels, 1, *k), 1.0 / float(np.prod(k)), np.float32)})

    # -- why a candidate stays on the host -------------------------------------------
    def why_not_avgpool(self, graph: Graph, m: Match) -> str | None:
        pool = m["pool"]
        spatial = len(pool.attrs["kernel_shape"])
        _, _, pads, _ = pool_geometry(pool, spatial)
        if pool.attrs["ceil_mode"] or (any(pads) and not pool.attrs["count_include_pad"]):
            return "ceil_mode, or padding that does not count: border windows average fewer cells than a conv"
        if spatial > 2 or pads[:spatial] != pads[spatial:]:
            return "uneven padding or >2-d pooling: no Lava Conv"
        if self.g.values[pool.inputs[0]].shape[0] > quant_mt.LAVA_CONV_AXIS_MAX:
            return "more channels than Lava's int8 conv groups hold"
        return None

    def why_not_synapse(self, graph: Graph, m: Match) -> str | None:
        geometry = synapse_geometry(m["syn"])
        return geometry if isinstance(geometry, str) else None

    @staticmethod
    def why_not_pool(graph: Graph, m: Match) -> str | None:
        attrs = m["pool"].attrs
        spatial = len(attrs["kernel_shape"])
        pads = tuple(attrs["pads"] or (0,) * 2 * spatial)
        if attrs["ceil_mode"] or pads[:spatial] != pads[spatial:] or spatial > 2:
            return "ceil_mode, uneven padding or >2-d pooling: no Lava Conv"
        return None

    def why_neuron_stays(self, graph: Graph, m: Match) -> str:
        """A float neuron no synapse-neuron rewrite took: what it reads (in the float graph)."""
        neuron = m["neuron"]
        if neuron.name in self.stays:
            return self.stays[neuron.name]
        src = self.g.producer(neuron.inputs[0])
        if neuron.op == "multi_threshold" and src is not None and src.op in SYNAPSES:
            return f"its synaptic layer {src.name!r} stays on the host"
        return f"reads {neuron.inputs[0]!r} ({src.op if src else 'graph input'}), not a synaptic layer"

    def rules(self) -> list[Rule]:
        """The rule set, in the order they are tried at each node."""
        timed = lambda n: self.g.values[n.inputs[0]].timed               # noqa: E731
        pooled = lambda g, n: timed(n) and single_use(g, n) and g.users(n.outputs[0])[0].op in (   # noqa: E731
            *NEURONS, "multi_threshold")
        return [
            Rule("avgpool-synapse", Pat("avgpool", name="pool", where=pooled), self.avgpool,
                 check=self.why_not_avgpool),
            Rule("synapse-neuron", Pat(set(SYNAPSES), name="syn", where=lambda g, n: timed(n)
                                       and neuron_after(g, n) is not None), self.fuse, check=self.why_not_synapse),
            Rule("synapse-multi-threshold", Pat(set(SYNAPSES), name="syn", where=lambda g, n: timed(n)
                                                and quant_mt.mt_after(g, n) is not None),
                 lambda g, m: quant_mt.fuse_mt(self, g, m),
                 check=lambda g, m: self.why_not_synapse(g, m) or quant_mt.why_not(g, m)),
            Rule("bare-synapse", Pat(set(SYNAPSES), name="syn", where=lambda g, n: timed(n)
                                     and neuron_after(g, n) is None and self.reads_spikes(g, n)),
                 self.bare, check=self.why_not_synapse),
            Rule("spike-maxpool", Pat("maxpool", name="pool", where=lambda g, n: on_chip(g, n.inputs[0])),
                 self.maxpool, check=self.why_not_pool),
            Rule("encoded-multi-threshold", Pat("multi_threshold", name="mt", where=lambda g, n: timed(n)),
                 lambda g, m: quant_mt.encode_mt(self, g, m), check=lambda g, m: quant_mt.why_not_encoded(self, g, m)),
            Rule("neuron-on-host", Pat(set(NEURONS), name="neuron"), self.why_neuron_stays,
                 check=self.why_neuron_stays),
        ]
