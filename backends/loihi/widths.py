"""Loihi's fixed-point bit widths, with where each comes from, and the check against them.

lava-nc declares these widths on its process models (``LavaPyType(..., precision=n)``)
as metadata only: its Python models compute in int32/int64 and never saturate to them.
Real Loihi hardware does, so snnc checks a quantised program against this table itself
(:func:`problems`), and the quantiser chooses scales that keep every value inside it.

Sources (lava-nc 0.10.0): ``lava/proc/lif/models.py`` (AbstractPyLifModelFixed,
PyLifModelBitAcc), ``lava/proc/dense/models.py`` (AbstractPyDenseModelBitAcc),
``lava/proc/conv/models.py`` (PyConvModelFixed), ``lava/utils/weightutils.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.ir.graph import Graph
from snnc.ir.ops.loihi import lava_weights, sign_mode
from snnc.ir.ops.loihi_mt import largest_level, payload_bits
from snnc.ir.registry import SYNAPTIC, TEMPORAL, ops_with


@dataclass(frozen=True)
class Width:
    lo: int
    hi: int
    source: str

    def holds(self, x) -> bool:
        x = np.asarray(x)
        return bool(x.size == 0 or (x.min() >= self.lo and x.max() <= self.hi))

    def __str__(self) -> str:
        return f"[{self.lo}, {self.hi}]"


WIDTHS: dict[str, Width] = {
    # synapses: 8-bit magnitude plus sign; mixed-sign weights lose their lowest bit
    "weight": Width(-256, 255, "weightutils.clip_weights(num_bits=8)"),
    "weight_exp": Width(-8, 7, "Dense weight_exp, precision 8 in Conv; netx uses 0..7 (uncertain)"),
    "num_message_bits": Width(0, 24, "Dense/Conv num_message_bits precision=5; Lava types graded spikes 24-bit"),
    # the synaptic input a neuron receives per step (LIF a_in: int16, precision=16)
    "a_in": Width(-(1 << 15), (1 << 15) - 1, "AbstractPyLifModelFixed.a_in precision=16"),
    # a Dense sum before weight_exp's right shift (a_accum; Lava accumulates in int64 and
    # shifts after, dense/models.py): held to the 24-bit state width (the chip's is uncertain)
    "a_accum": Width(-(1 << 23) + 1, (1 << 23) - 1, "AbstractPyDenseModelBitAcc a_accum (int64 in Lava; "
                     "24 bits assumed, uncertain)"),
    # neuron parameters
    "vth": Width(0, (1 << 17) - 1, "PyLifModelBitAcc.vth precision=17 (unsigned)"),
    "du": Width(0, 4095, "AbstractPyLifModelFixed.du precision=12 (unsigned)"),
    "dv": Width(0, 4095, "AbstractPyLifModelFixed.dv precision=12 (unsigned)"),
    "bias_mant": Width(-4096, 4095, "AbstractPyLifModelFixed.bias_mant precision=13 (signed)"),
    "bias_exp": Width(0, 7, "PyLifModelBitAcc docstring: unsigned 3-bit"),
    # state (u wraps, v saturates at these)
    "uv": Width(-(1 << 23) + 1, (1 << 23) - 1, "AbstractPyLifModelFixed uv_bitwidth=24"),
}


def shifted(worst, exp: int):
    """The largest |a| a synapse delivers once Lava shifts a sum of at most ``worst`` by
    ``weight_exp``: ``worst << exp``, or for a right shift (floors: −worst becomes
    −ceil(worst / 2^−exp)) ``ceil(worst / 2^−exp)``; ints or integer arrays."""
    return worst << exp if exp >= 0 else -((-worst) >> -exp)


def worst_input(weight: np.ndarray, x_max, per_output_axis: int = 0) -> int:
    """The largest |a| a synapse can deliver when every input is in ``[-x_max, x_max]``:
    all positive weights driven up, or all negative ones (binary inputs: x_max = 1).
    ``x_max`` may also be one bound per input (per column of the flattened weights): the
    synapses of a dendritic sum, each with its own input, side by side."""
    pos, neg = _drive(weight, x_max, per_output_axis)
    return int(max(pos.max(initial=0), neg.max(initial=0)))


def _drive(weight: np.ndarray, x_max, per_output_axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the largest positive and negative input the synapse delivers."""
    w = np.asarray(weight).astype(np.int64)
    flat = np.moveaxis(w, per_output_axis, 0).reshape(w.shape[per_output_axis], -1)
    x_max = np.asarray(x_max, np.int64)
    return (np.where(flat > 0, flat, 0) * x_max).sum(axis=1), (np.where(flat < 0, -flat, 0) * x_max).sum(axis=1)


def _input_max(graph: Graph, node) -> int:
    """Largest |input| a synaptic node can see: 1 for spikes, the encoder's levels else."""
    if node.attrs["num_message_bits"] == 0:
        return 1
    levels = graph.values[node.inputs[0]].kind.levels
    source = graph.producer(node.inputs[0])
    if levels is None and source is not None and source.op == "loihi_encode":
        # a wide encoder's kind keeps no level list (ANALOG past 4096 levels), but its clip
        # range is the bound: a signed 13-bit one sends |x| <= 4095, not 2^13 - 1
        return max(abs(int(source.attrs["lo"])), abs(int(source.attrs["hi"])))
    if levels is None:
        return (1 << node.attrs["num_message_bits"]) - 1
    return int(max(abs(v) for v in levels))


def _check_input_max(graph: Graph, node, found: list[str]) -> None:
    """A multi-threshold neuron's ``input_max`` bounds the payload its readers budget for
    (snnc.ir.ops.loihi_mt.fired_bound): it must hold its synapse's worst case plus bias."""
    m = int(node.attrs["input_max"])
    syn = graph.producer(node.inputs[0])
    if m <= 0 or syn is None or syn.op not in ops_with(SYNAPTIC, TEMPORAL):
        return
    worst = shifted(worst_input(syn.params["weight"], _input_max(graph, syn)), syn.attrs["weight_exp"])
    if "bias" in node.params:
        worst += int(np.abs(node.params["bias"]).max(initial=0))
    if worst > m:
        found.append(f"{node.name!r} (loihi_mt): input_max {m} is below its synapse's worst case {worst}")


def _check_dendrites(graph: Graph, node, found: list[str]) -> None:
    """A neuron reading an ``add`` of synapses (a dendritic sum) gets both at once: the
    sum of their worst cases must fit its 16-bit input."""
    src = graph.producer(node.inputs[0])
    syns = [graph.producer(v) for v in src.inputs] if src is not None and src.op == "add" else []
    if not syns or not all(s is not None and s.op in ops_with(SYNAPTIC, TEMPORAL) for s in syns):
        return
    # per output channel (axis 0 of every synapse's weights: the neuron's channels), the
    # positive drives add up, and the negative ones; mixed layouts fall back to the bound
    drives = [[shifted(d, s.attrs["weight_exp"]) for d in _drive(s.params["weight"], _input_max(graph, s))]
              for s in syns]
    if len({len(p) for p, _ in drives}) == 1:
        a = int(max(sum(p for p, _ in drives).max(initial=0), sum(n for _, n in drives).max(initial=0)))
    else:
        a = sum(int(max(p.max(initial=0), n.max(initial=0))) for p, n in drives)
    if a > WIDTHS["a_in"].hi:
        found.append(f"{node.name!r} (loihi_lif): worst-case input {a} of its {len(syns)} synapses together "
                     f"exceeds the neuron's 16-bit input {WIDTHS['a_in']} ({WIDTHS['a_in'].source})")


def problems(graph: Graph) -> list[str]:
    """Every value of a quantised program outside Loihi's widths, one line each."""
    found = []

    def need(node, what: str, value) -> None:
        width = WIDTHS[what]
        if not width.holds(value):
            arr = np.asarray(value)
            found.append(f"{node.name!r} ({node.op}): {what} spans [{arr.min()}, {arr.max()}], "
                         f"Loihi holds {width} ({width.source})")

    for node in graph.nodes:
        if node.op in ops_with(SYNAPTIC, TEMPORAL):
            w = node.params["weight"]
            need(node, "weight", w)
            need(node, "weight_exp", node.attrs["weight_exp"])
            need(node, "num_message_bits", node.attrs["num_message_bits"])
            if node.op == "loihi_dense":
                used = lava_weights(w, node.attrs["num_weight_bits"], node.attrs["sign_mode"])
                if not np.array_equal(used, w):
                    found.append(f"{node.name!r} (loihi_dense): {int((used != w).sum())} weights change when Lava "
                                 f"truncates them to {node.attrs['num_weight_bits']} bits "
                                 f"({sign_mode(w)} sign: {'even values' if sign_mode(w) == 'mixed' else 'any'})")
            pre = worst_input(w, _input_max(graph, node))
            a = shifted(pre, node.attrs["weight_exp"])
            if node.attrs["weight_exp"] < 0 and pre > WIDTHS["a_accum"].hi:
                found.append(f"{node.name!r} ({node.op}): worst-case sum {pre} before the shift by weight_exp "
                             f"{node.attrs['weight_exp']} exceeds {WIDTHS['a_accum']} ({WIDTHS['a_accum'].source})")
            if a > WIDTHS["a_in"].hi:
                found.append(f"{node.name!r} ({node.op}): worst-case synaptic input {a} exceeds the neuron's "
                             f"16-bit input {WIDTHS['a_in']} ({WIDTHS['a_in'].source})")
        elif node.op == "loihi_mt":      # a microcoded neuron: its levels and bias live in the 24-bit membrane
            need(node, "uv", largest_level(node))
            _check_input_max(graph, node, found)
            if "bias" in node.params:
                need(node, "uv", node.params["bias"])
            need(node, "num_message_bits", payload_bits(node))
        elif node.op == "loihi_lif":
            _check_dendrites(graph, node, found)
            for what in ("vth", "du", "dv"):
                need(node, what, node.attrs[what])
            for what in ("bias_mant", "bias_exp"):
                if what in node.params:
                    need(node, what, node.params[what])
    return found
