"""``loihi_mt``: ECMT's multi-threshold neuron in Loihi 2 fixed point (a microcoded neuron).

The float neuron (:func:`snnc.ir.ops.conversion.multi_threshold`, ECMT Section 4.3) on
the integer grid of the synapse that feeds it: with the layer's scale k (integer units per
float unit, chosen by the quantiser as for ``loihi_lif``), θ_int = rint(k·θ) per sign (per
channel where θ is), and the level ladder λ_k = θ_int·gap^k, k < ``levels``:

    t < start:  v = 0, s = 0           (the neuron waits for its first input, which the
                                        synapses deliver ``start`` steps late)
    v = clip(v + a[t] + bias, ±(2²³ − 1))                       24-bit membrane
    s = +λ_k  for the largest k with   v ≥ λ_k − ⌊θ_int/2⌋      (⟺ 2v ≥ 2λ_k − θ_int:
    else −λ⁻_k for the largest k with −v ≥ λ⁻_k − ⌊θ⁻_int/2⌋     the float V ≥ λ − θ/2,
    else 0                                                        ties fire, exactly)
    v = v − s                          reset by subtraction: V keeps the remainder

``input_max`` (the quantiser's bound on |a + bias|) bounds the levels it can reach, and so
the payload its readers must budget for (:func:`fired_bound`). The output is the integer graded payload ``s / unit`` (int32; ±λ_int in units of ``unit``,
a common divisor of every θ_int, so with one θ it is ±gap^k: one message per neuron and
step, ``payload_bits`` wide: sign + the largest level's bits). The membrane keeps its fine
grid (θ_int steps), the wire carries the level: a reader's weights per payload unit are
then W·unit/k, large enough for 8-bit integers. ``scale`` (float units per payload unit,
unit/k) turns it back into the float neuron's ±λ, which a ``loihi_dequant`` does for the
host. ``a`` is a ``loihi_dense``/``loihi_conv`` output, so it already carries
Lava's one-step synaptic delay; the neuron adds none (it sends in the step it receives,
as Lava's LIF does). The Lava process is
:class:`snnc.backends.loihi.lava_procs.multi_threshold.MultiThreshold`.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.kinds import Kind
from snnc.ir.ops.common import same_shape
from snnc.ir.registry import NEURON, TEMPORAL, Attr, op

#: the membrane's width: Loihi's 24-bit state (as ``loihi_lif``'s v)
V_BITS = 24
V_MAX = (1 << (V_BITS - 1)) - 1


def _param(node, name: str, shape) -> np.ndarray:
    """A per-neuron integer parameter broadcast to the per-sample ``shape`` (int64)."""
    value = node.params.get(name)
    if value is None:
        return np.zeros(shape, np.int64)
    return np.broadcast_to(np.asarray(value).astype(np.int64), shape)


def ladder(node, shape) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``(λ⁺_k, b⁺_k, λ⁻_k, b⁻_k)`` for k = 0 … levels−1, each broadcast to ``shape``:
    the payloads and the firing bounds λ_k − ⌊θ_int/2⌋ (module doc)."""
    gap, n = int(node.attrs.get("gap", 2)), int(node.attrs["levels"])
    out = []
    for name in ("theta_pos", "theta_neg"):
        th = _param(node, name, shape)
        lam = [th * gap ** k for k in range(n)]
        out += [lam, [lv - (th >> 1) for lv in lam]]
    return out[0], out[1], out[2], out[3]


def largest_level(node) -> int:
    """The largest |λ_int| (membrane units) this neuron can fire."""
    gap, n = int(node.attrs.get("gap", 2)), int(node.attrs["levels"])
    top = max(int(np.max(node.params[k])) for k in ("theta_pos", "theta_neg"))
    return top * gap ** (n - 1)


def fired_bound(node) -> int:
    """The largest |s| (membrane units) it can fire. With ``input_max`` = m >= |a + bias|
    at every step (the quantiser's guarantee, widths.py checks it), the remainder stays
    within R = max(m·(gap−1), θ_max): a spike below the top level takes more than 1/gap
    of v away (v < gap·λ_k − ⌊θ/2⌋), so |v'| < |v|·(1 − 1/gap) <= (R + m)(1 − 1/gap) <= R,
    and a silent neuron holds |v| < θ. So |s| <= |v| + ⌊θ/2⌋ <= R + m + ⌊θ_max/2⌋, while
    R + m stays below gap·λ_top − ⌊θ_max/2⌋ for every neuron (the top level then
    contracts too); else, or with m unknown (0), the largest level."""
    top = largest_level(node)
    m = int(node.attrs.get("input_max", 0))
    if m <= 0:
        return top
    gap, n = int(node.attrs.get("gap", 2)), int(node.attrs["levels"])
    th_max = max(int(np.max(node.params[k])) for k in ("theta_pos", "theta_neg"))
    th_min = min(int(np.min(node.params[k])) for k in ("theta_pos", "theta_neg"))
    r = max(m * (gap - 1), th_max)
    if r + m >= gap * th_min * gap ** (n - 1) - th_max // 2:
        return top
    return min(top, r + m + th_max // 2)


def largest_payload(node) -> int:
    """The largest |payload| it sends: the largest level it can fire over ``unit``."""
    return fired_bound(node) // int(node.attrs.get("unit", 1))


def payload_bits(node) -> int:
    """The graded-spike width its readers need: a sign bit and the largest level's bits."""
    return 1 + largest_payload(node).bit_length()


def _mt_shape(node, ins):
    for name in ("theta_pos", "theta_neg"):
        th = np.asarray(node.params[name])
        if th.size == 0 or th.min() < 1:
            raise ValueError(f"loihi_mt {node.name!r}: {name} must be integers >= 1")
        try:
            np.broadcast_shapes(th.shape, ins[0].shape)
        except ValueError:
            raise ValueError(f"loihi_mt {node.name!r}: {name} {th.shape} does not broadcast to {ins[0].shape}") \
                from None
    if int(node.attrs["levels"]) < 1 or int(node.attrs.get("gap", 2)) < 2:
        raise ValueError(f"loihi_mt {node.name!r}: levels must be >= 1 and gap an integer >= 2")
    unit = int(node.attrs.get("unit", 1))
    if unit < 1 or any(np.any(np.asarray(node.params[k]) % unit) for k in ("theta_pos", "theta_neg")):
        raise ValueError(f"loihi_mt {node.name!r}: unit {unit} must divide every threshold")
    if largest_level(node) > V_MAX:
        raise ValueError(f"loihi_mt {node.name!r}: its largest level {largest_level(node)} exceeds the "
                         f"{V_BITS}-bit membrane")
    return same_shape(node, ins)


def _mt_kind(node, ins):
    """Graded spikes: 0 and ±θ·gap^k / unit, the levels it can reach (:func:`fired_bound`)."""
    gap, n, unit = int(node.attrs.get("gap", 2)), int(node.attrs["levels"]), int(node.attrs.get("unit", 1))
    bound = fired_bound(node)
    values = [0]
    for sign, name in ((1, "theta_pos"), (-1, "theta_neg")):
        for th in np.unique(node.params[name]).tolist():
            values += [sign * th * gap ** k // unit for k in range(n) if th * gap ** k <= bound]
    return [Kind(Kind.of(values).levels, n)]


def _timed(node, ins):
    if not ins[0].timed:
        raise ValueError(f"loihi_mt {node.name!r} reads {ins[0].name!r}, which has no time axis")
    return ["TN"]


@op("loihi_mt", arity=1, shape=_mt_shape, kind=_mt_kind, dtype=lambda node, ins: ["int32"], axes=_timed,
    traits={NEURON, TEMPORAL},
    attrs={"levels": Attr(int), "gap": Attr(int, 2), "unit": Attr(int, 1), "start": Attr(int, 0),
           "scale": Attr(float, 1.0), "input_max": Attr(int, 0)},
    params=("theta_pos", "theta_neg"), optional_params=("bias",))
def loihi_mt(node, arrays):
    """The multi-threshold neuron on integers (module doc): one signed graded payload
    ±θ_int·gap^k / unit per step, the largest level reached; v keeps the remainder."""
    a = np.asarray(arrays[0]).astype(np.int64)
    shape = a.shape[2:]
    lp, bp, ln, bn = ladder(node, shape)
    bias = _param(node, "bias", shape)
    start, unit = int(node.attrs.get("start", 0)), int(node.attrs.get("unit", 1))
    v = np.zeros(a.shape[1:], np.int64)
    out = np.zeros(a.shape, np.int32)
    for t in range(start, a.shape[0]):
        v = np.clip(v + a[t] + bias, -V_MAX, V_MAX)
        s = np.zeros_like(v)
        for k in range(len(lp)):            # ascending k: the largest level reached wins
            s = np.where(-v >= bn[k], -ln[k], s)
        for k in range(len(lp)):
            s = np.where(v >= bp[k], lp[k], s)
        v = v - s
        out[t] = s // unit                  # exact: unit divides every level
    return [out]
