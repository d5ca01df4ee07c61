"""Quantise a float spiking graph to Loihi 2 numerics: the ``loihi`` op family.

    q = quantize(graph)                       # graph: BatchNorm folded (fold-bn) first
    q = quantize(graph, calibration={"x": x}) # the input's range from data

Rewrites, each ``# before -> after``:

    %a = conv|linear(%s); %y = lif|if(%a)  ->  %a = loihi_conv|loihi_dense(%s); %y = loihi_lif(%a)
    %y = maxpool(%s)   (s: spikes)         ->  %c = loihi_conv[ones, group=C](%s); %y = loihi_lif[vth=0](%c)
    %a = conv|linear(%s) (no neuron after) ->  %i = loihi_conv|loihi_dense(%s); %a = loihi_dequant(%i)
    a synapse reading a float input x      ->  its input is loihi_encode(x): integer graded spikes

and leaves every other node on the host, as it was (the report says why).

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

import numpy as np

from snnc.backends.loihi import widths
from snnc.ir.build import emit
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.interpret import Interpreter
from snnc.ir.ops.loihi import PROGRAM_META, sign_mode

SYNAPSES = {"conv": "loihi_conv", "linear": "loihi_dense"}
NEURONS = ("lif", "if")
WEIGHT_MAX = 254            # 8-bit mixed sign on Lava's scale: even values, |w| <= 254
A_IN_MAX = widths.WIDTHS["a_in"].hi
VTH_MAX = widths.WIDTHS["vth"].hi
BIAS_MAX = widths.WIDTHS["bias_mant"].hi * 2 ** widths.WIDTHS["bias_exp"].hi      # 4095 << 7
META_KEY = PROGRAM_META


def quantize(graph: Graph, *, calibration: dict[str, np.ndarray] | None = None,
             input_bits: int | None = None) -> Graph:
    """The graph in Loihi numerics (module doc); ``graph`` is not changed.

    ``calibration`` maps graph inputs to sample arrays; the range of each float value a
    synapse reads is taken from them (else assumed within [-1, 1]). ``input_bits`` is the
    graded-spike width of such inputs (default: per input, the width that balances input
    and weight rounding under the 16-bit bound on a neuron's input). The per-layer report is in
    ``q.meta["loihi"]`` (:func:`report_lines` prints it).
    """
    if input_bits is not None and not 2 <= input_bits <= widths.WIDTHS["num_message_bits"].hi:
        raise SnncError(f"input_bits={input_bits}: Loihi's graded spikes carry 2..24 bits")
    _check_supported(graph)
    builder = _Builder(graph, calibration, input_bits)
    q = builder.build()
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
        if node.op in NEURONS and node.attrs.get("soft_reset", 0):
            found.append(f"{node.op} {node.name!r} has a soft reset (V -= θ); Lava's LIF only resets to 0: "
                         "retrain with a hard reset (v_reset=0.0)")
    if found:
        raise UnsupportedError(f"graph {graph.name!r} cannot be quantised for Loihi ({len(found)} problems)",
                               problems=found)


def _copy_value(v: Value) -> Value:
    return Value(v.name, v.shape, v.dtype, v.kind, v.axes)


class _Builder:
    def __init__(self, graph: Graph, calibration, input_bits: int | None):
        self.g, self.calibration, self.input_bits = graph, calibration, input_bits
        self.q = Graph(graph.name)
        self.q.meta = dict(graph.meta)
        self.chip: set[str] = set()          # values that are on-chip spikes
        self.encoded: dict[str, tuple] = {}   # host value -> (levels value, scale, max |level|, bits)
        self.done: set[str] = set()
        self.layers: list[dict] = []
        self.host: list[dict] = []
        self._ranges: dict[str, tuple[float, float]] | None = None

    def build(self) -> Graph:
        for name in self.g.inputs:
            self.q.add_input(_copy_value(self.g.values[name]))
        for node in self.g.nodes:
            if node.name in self.done:
                continue
            if node.op in SYNAPSES and self._timed(node):
                self._synapse(node)
            elif node.op == "maxpool" and node.inputs[0] in self.chip:
                self._maxpool(node)
            elif node.op == "reshape" and node.inputs[0] in self.chip:
                self._copy(node)
                self.chip.add(node.outputs[0])
            else:
                if node.op in NEURONS:
                    src = self.g.producer(node.inputs[0])
                    self.host.append({"node": node.name, "reason": f"reads {node.inputs[0]!r}"
                                      f" ({src.op if src else 'graph input'}), not a synaptic layer"})
                self._copy(node)
        self.q.outputs = list(self.g.outputs)
        lag = latency(self.q)
        for node in self.q.nodes:        # each neuron starts when its first input arrives
            if node.op == "loihi_lif":
                node.attrs["start"] = lag[node.inputs[0]]
        self.q.meta[META_KEY] = {"layers": self.layers, "host": self.host,
                                 "inputs": {k: {"levels": v[0], "scale": v[1], "max_level": v[2], "bits": v[3]}
                                            for k, v in self.encoded.items()}}
        return self.q

    # -- helpers ---------------------------------------------------------------------
    def _timed(self, node: Node) -> bool:
        return self.g.values[node.inputs[0]].timed

    def _copy(self, node: Node) -> None:
        outs = [_copy_value(self.g.values[o]) for o in node.outputs]
        self.q.add_node(Node(node.name, node.op, list(node.inputs), list(node.outputs), dict(node.attrs),
                             dict(node.params), node.source), outs)

    def _neuron_after(self, syn: Node) -> Node | None:
        readers = self.g.users(syn.outputs[0])
        if len(readers) == 1 and readers[0].op in NEURONS and syn.outputs[0] not in self.g.outputs:
            return readers[0]
        return None

    def _input_range(self, value: str) -> tuple[float, float] | None:
        if self.calibration is None:
            return None
        if self._ranges is None:
            self._ranges = {}
        if value not in self._ranges:
            if value in self.calibration:
                arr = np.asarray(self.calibration[value])
            else:
                probe = self.g.copy()
                probe.outputs = [value]
                arr = Interpreter(probe).run(self.calibration)[value]
            self._ranges[value] = (float(arr.min()), float(arr.max()))
        return self._ranges[value]

    def _levels(self, value: str, bits: int) -> tuple[float, int, tuple[int, int]]:
        """(levels per float unit, max |level|, (lo, hi)) of ``bits``-bit levels for ``value``."""
        rng = self._input_range(value)
        lo, hi = rng if rng is not None else (-1.0, 1.0)
        top = (1 << bits) - 1 if lo >= 0 else (1 << (bits - 1)) - 1
        span = max(abs(lo), abs(hi)) or 1.0
        return top / span, top, (0, top) if lo >= 0 else (-top, top)

    def _pick_bits(self, value: str, w: np.ndarray, theta: float | None) -> int:
        """The input width that balances weight and input rounding: more input bits leave
        fewer weight levels under the 16-bit input bound (Σ|w|·|x| <= 2^15)."""
        best = None
        for bits in range(3, 9):
            per_level, top, _ = self._levels(value, bits)
            try:
                k, _, w_int, _ = choose_scale(w / per_level, theta, top, value)
            except UnsupportedError:
                continue
            err = _rel_error(w_int / k, w / per_level) ** 2 + (0.5 / top) ** 2
            if best is None or err < best[0]:
                best = (err, bits)
        return best[1] if best else 8

    def _encode(self, value: str, bits: int) -> tuple[str, float, int, int]:
        """The integer levels a source injects for the float ``value`` (made once)."""
        if value not in self.encoded:
            scale, top, (lo, hi) = self._levels(value, bits)
            name = self.q.fresh_name(f"{value}.encode")
            emit(self.q, "loihi_encode", [value], name=name, outputs=[name],
                 attrs={"scale": float(scale), "lo": lo, "hi": hi})
            self.encoded[value] = (name, float(scale), top, bits)
            if self._input_range(value) is None:
                self.host.append({"node": name, "reason": f"{value!r} assumed within [-1, 1]: "
                                  "pass calibration data for its real range"})
        return self.encoded[value]

    def _source(self, syn: Node, w: np.ndarray, theta: float | None) -> tuple[str, float, int, int]:
        """(input value, levels per float unit, max |input|, message bits) of a synapse."""
        x = syn.inputs[0]
        if x in self.chip or self.g.values[x].kind.is_binary:
            return x, 1.0, 1, 0
        bits = self.input_bits
        if bits is None and x not in self.encoded:
            bits = self._pick_bits(x, w, theta)
        name, scale, top, bits = self._encode(x, bits)
        return name, scale, top, bits

    # -- rewrites --------------------------------------------------------------------
    def _synapse(self, syn: Node) -> None:
        neuron = self._neuron_after(syn)
        reads_chip = syn.inputs[0] in self.chip or self.g.values[syn.inputs[0]].kind.is_binary
        if neuron is None and not reads_chip:
            self._copy(syn)                    # an analog layer with nothing to drive: host
            return
        geometry = _synapse_geometry(syn)
        if isinstance(geometry, str):
            self.host.append({"node": syn.name, "reason": geometry})
            self._copy(syn)
            return
        c, theta, tau = _neuron_terms(neuron) if neuron is not None else (1.0, None, None)
        w = c * syn.params["weight"].astype(np.float64)
        b = syn.params.get("bias")
        b = None if b is None else c * b.astype(np.float64)
        x, per_level, x_max, bits = self._source(syn, w, theta)
        w = w / per_level                                            # per input level
        if neuron is not None:
            self._fused(syn, neuron, x, w, b, x_max, bits, geometry, theta, tau)
        else:
            self._bare(syn, x, w, b, x_max, bits, geometry)

    def _fused(self, syn, neuron, x, w, b, x_max, bits, geometry, theta, tau) -> None:
        bias_max = float(np.abs(b).max(initial=0.0)) if b is not None else 0.0
        k, theta_int, w_int, limit = choose_scale(w, theta, x_max, neuron.name, bias_max)
        mant, exp, bias_err = _bias(64.0 * k * b, neuron.name) if b is not None else (None, None, 0.0)
        shape = self.g.values[neuron.inputs[0]].shape
        emit(self.q, SYNAPSES[syn.op], [x], name=syn.name, outputs=[syn.outputs[0]], source=syn.source,
             attrs=_synapse_attrs(syn, geometry, bits, w_int), params={"weight": w_int})
        params = {}
        if mant is not None:
            bshape = (-1,) + (1,) * (len(shape) - 1) if syn.op == "conv" else (-1,)
            params = {"bias_mant": mant.reshape(bshape), "bias_exp": exp.reshape(bshape)}
        dv = 0 if tau is None else int(min(max(round(4096.0 / tau), 0), 4095))
        emit(self.q, "loihi_lif", [syn.outputs[0]], name=neuron.name, outputs=[neuron.outputs[0]],
             source=neuron.source, attrs={"du": 4095, "dv": dv, "vth": theta_int - 1}, params=params)
        self.chip.add(neuron.outputs[0])
        self.done.add(neuron.name)
        notes = []
        if neuron.attrs.get("v_reset", 0.0):
            notes.append(f"v_reset={neuron.attrs['v_reset']:g} lowered as reset to 0 with threshold θ - v_reset")
        self.layers.append({
            "layer": syn.name, "op": syn.op, "neuron": neuron.name, "neuron_op": neuron.op,
            "input": "spikes" if bits == 0 else f"graded({bits})", "scale": k, "limited_by": limit,
            "weight_error": _rel_error(w_int / k, w), "weight_levels": int(np.unique(w_int).size),
            "theta": theta, "vth": theta_int - 1, "threshold_error": abs(theta_int / k - theta),
            "tau": tau, "du": 4095, "dv": dv, "decay_error": 0.0 if tau is None else abs(dv / 4096.0 - 1.0 / tau),
            "bias_error": bias_err / (64.0 * k), "notes": notes})

    def _bare(self, syn, x, w, b, x_max, bits, geometry) -> None:
        k, _, w_int, limit = choose_scale(w, None, x_max, syn.name)
        raw = self.q.fresh_name(f"{syn.outputs[0]}.int")
        emit(self.q, SYNAPSES[syn.op], [x], name=syn.name, outputs=[raw], source=syn.source,
             attrs=_synapse_attrs(syn, geometry, bits, w_int), params={"weight": w_int})
        shape = self.g.values[syn.outputs[0]].shape
        params = {}
        if b is not None:
            params["bias"] = b.reshape((-1,) + (1,) * (len(shape) - 1) if syn.op == "conv" else (-1,)) \
                .astype(np.float32)
        emit(self.q, "loihi_dequant", [raw], name=self.q.fresh_name(f"{syn.name}.dequant"),
             outputs=[syn.outputs[0]], attrs={"scale": 1.0 / k}, params=params)
        self.layers.append({"layer": syn.name, "op": syn.op, "neuron": None, "neuron_op": None,
                            "input": "spikes" if bits == 0 else f"graded({bits})", "scale": k, "limited_by": limit,
                            "weight_error": _rel_error(w_int / k, w), "weight_levels": int(np.unique(w_int).size),
                            "notes": ["no neuron reads it: its integer output is read back and dequantised on "
                                      "the host, bias added there"]})

    def _maxpool(self, pool: Node) -> None:
        """Max of spikes = (count of spikes in the window >= 1): an all-ones depthwise conv
        into a neuron that fires at any input and forgets (vth = 0, dv = du = 4095)."""
        attrs = pool.attrs
        k = tuple(attrs["kernel_shape"])
        spatial = len(k)
        pads = tuple(attrs.get("pads") or (0,) * 2 * spatial)
        if attrs.get("ceil_mode", 0) or pads[:spatial] != pads[spatial:] or spatial > 2:
            self.host.append({"node": pool.name, "reason": "ceil_mode, uneven padding or >2-d pooling: no Lava Conv"})
            self._copy(pool)
            return
        channels = self.g.values[pool.inputs[0]].shape[0]
        total = self.q.fresh_name(f"{pool.name}.count")
        emit(self.q, "loihi_conv", [pool.inputs[0]], name=total, outputs=[total], source=pool.source,
             attrs={"strides": list(attrs.get("strides") or [1] * spatial), "pads": list(pads),
                    "dilations": list(attrs.get("dilations") or [1] * spatial), "group": channels},
             params={"weight": np.ones((channels, 1, *k), np.int32)})
        emit(self.q, "loihi_lif", [total], name=pool.name, outputs=[pool.outputs[0]], source=pool.source,
             attrs={"du": 4095, "dv": 4095, "vth": 0})
        self.chip.add(pool.outputs[0])
        self.layers.append({"layer": pool.name, "op": "maxpool", "neuron": pool.name, "neuron_op": "threshold",
                            "input": "spikes", "scale": 1.0, "limited_by": "exact", "weight_error": 0.0,
                            "weight_levels": 1, "vth": 0, "du": 4095, "dv": 4095,
                            "notes": ["all-ones depthwise conv into a neuron that fires at any spike (exact)"]})


def _neuron_terms(neuron: Node) -> tuple[float, float, float | None]:
    """``(c, θ, τ)``: the factor on the input (1/τ with decay_input), the threshold above
    the reset level, and τ (None for IF)."""
    lif = neuron.op == "lif"
    tau = float(neuron.attrs.get("tau", 2.0)) if lif else None
    c = 1.0 / tau if lif and neuron.attrs.get("decay_input", 1) else 1.0
    theta = float(neuron.attrs.get("v_threshold", 1.0)) - float(neuron.attrs.get("v_reset", 0.0))
    if theta <= 0:
        raise UnsupportedError(f"{neuron.op} {neuron.name!r}: v_threshold - v_reset = {theta:g} <= 0; Loihi fires "
                               "above a non-negative threshold: use v_threshold > v_reset")
    return c, theta, tau


def _synapse_geometry(syn: Node) -> dict | str:
    """The loihi op's geometry attributes, or why Lava has no process for this layer."""
    if syn.op == "linear":
        return {}
    w = syn.params["weight"]
    spatial = w.ndim - 2
    pads = tuple(syn.attrs.get("pads") or (0,) * 2 * spatial)
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


def choose_scale(w: np.ndarray, theta: float | None, x_max: int, name: str, bias_max: float = 0.0):
    """``(k, θ_int, W_int, limited_by)``: the largest scale k (integer units per float unit)
    with even weights in [−254, 254], θ_int = k·θ an integer <= 2^17, a worst-case
    synaptic input within 16 bits, and a bias (64·k·b) within 13 bits << 7."""
    wmax = float(np.abs(w).max(initial=0.0))
    flat = w.reshape(w.shape[0], -1)
    worst_f = max(np.where(flat > 0, flat, 0).sum(axis=1).max(initial=0.0),
                  np.where(flat < 0, -flat, 0).sum(axis=1).max(initial=0.0)) * x_max
    limits = {"weights": WEIGHT_MAX / wmax if wmax else np.inf,
              "16-bit input": A_IN_MAX / worst_f if worst_f else np.inf}
    if theta is not None:
        limits["17-bit threshold"] = (VTH_MAX + 1) / theta
    if bias_max:
        limits["13-bit bias"] = BIAS_MAX / (64.0 * bias_max)
    limit = min(limits, key=limits.get)
    k = limits[limit]
    if not np.isfinite(k):
        k = 1.0 / theta if theta else 1.0
    for _ in range(200):
        if theta is not None:
            theta_int = int(np.floor(k * theta + 1e-9))
            if theta_int < 1:
                raise UnsupportedError(
                    f"{name!r}: threshold {theta:g} is below one integer step at the largest scale its {limit} "
                    f"allow (k = {k:.3g}; largest weight {wmax:g}): raise the threshold or scale the weights down")
            k = theta_int / theta
        else:
            theta_int = None
        w_int = (2 * np.rint(k * w / 2)).astype(np.int32)
        if np.abs(w_int).max(initial=0) <= WEIGHT_MAX and widths.worst_input(w_int, x_max) <= A_IN_MAX:
            return k, theta_int, w_int, limit
        k *= 0.98       # rounding pushed a weight or a sum over the edge: shrink a little
    raise UnsupportedError(f"{name!r}: no scale fits its weights into Loihi's 8-bit synapses")


def _bias(bias_v: np.ndarray, name: str):
    """``(mant, exp, max float error)``: mant·2^exp ≈ bias_v with |mant| <= 4095, exp in 0..7."""
    mag = np.abs(bias_v)
    exp = np.zeros(bias_v.shape, np.int32)
    for e in range(1, 8):     # the smallest exponent that brings the mantissa within 13 bits
        exp = np.where(np.rint(mag / 2.0 ** exp) > 4095, e, exp).astype(np.int32)
    mant = np.rint(bias_v / 2.0 ** exp).astype(np.int32)
    if np.abs(mant).max(initial=0) > 4095:
        raise UnsupportedError(f"{name!r}: bias {bias_v[np.argmax(mag)] / 64:g} (in threshold units ×64) exceeds "
                               "Loihi's 13-bit mantissa << 7; lower the bias or the threshold's resolution")
    return mant, exp, float(np.abs(mant * 2.0 ** exp - bias_v).max(initial=0.0))


def _rel_error(approx: np.ndarray, exact: np.ndarray) -> float:
    norm = float(np.linalg.norm(exact))
    return float(np.linalg.norm(approx - exact) / norm) if norm else 0.0


def latency(graph: Graph) -> dict[str, int]:
    """Steps each value lags its float counterpart: +1 per loihi_dense/loihi_conv on the
    longest path from the inputs (Lava sends every synaptic output one step late)."""
    lag = {name: 0 for name in graph.inputs}
    for node in graph.nodes:
        base = max((lag.get(v, 0) for v in node.inputs), default=0)
        step = 1 if node.op in ("loihi_dense", "loihi_conv") else 0
        for out in node.outputs:
            lag[out] = base + step
    return lag


def report_lines(graph: Graph) -> list[str]:
    """The quantisation report of a quantised graph as a table, one layer per line."""
    meta = graph.meta.get(META_KEY)
    if not meta:
        return ["(not a quantised graph)"]
    lines = [f"{'layer':<28} {'input':<10} {'scale':>9} {'limit':<16} {'w err':>7} {'vth':>6} {'dv':>5} "
             f"{'decay err':>9} {'bias err':>8}"]
    for r in meta["layers"]:
        lines.append(f"{r['layer']:<28} {r['input']:<10} {r['scale']:>9.3g} {r['limited_by']:<16} "
                     f"{r['weight_error']:>7.2%} {str(r.get('vth', '-')):>6} {str(r.get('dv', '-')):>5} "
                     f"{r.get('decay_error', 0.0):>9.2e} {r.get('bias_error', 0.0):>8.2g}")
        lines += [f"  note: {n}" for n in r.get("notes", [])]
    lines += [f"host: {h['node']}: {h['reason']}" for h in meta["host"]]
    return lines
