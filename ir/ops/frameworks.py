"""Other frameworks' neurons, where no ``lif``/``if`` expresses them exactly.

``leaky``: snnTorch's ``snn.Leaky`` (snnTorch 1.0 ``_neurons/leaky.py``), the IR side of
the ``snnc::Leaky`` dialect op (:mod:`snnc.onnx.dialect_frameworks`), state U = 0 at
start, per step in float32:

    R = U > θ;   U' = β·U + X − R·θ (subtract) | β·((1 − R)·U) + X (zero) | β·U + X (none)
    S = U' > θ;  without reset_delay: D = S − R, U' −= D·θ (subtract) or D·U' (zero)

``synaptic``: snnTorch's ``snn.Synaptic`` (``snnc::Synaptic``), I = U = 0 at start:

    R = U > θ;  I = α·I + X;  U' = β·U + I − R·θ | (β·U + I)·(1 − R) as U' − U'·R | β·U + I
    S = U' > θ;  without reset_delay as leaky

``sj_lif``: SpikingJelly 2.0's LIFNode / ParametricLIFNode charge (``snnc::SpikingJellyLIF``),
scale(y) = y / factor (divide) or y · factor, V_r = 0 when soft:

    H = V + scale(X − (V − V_r)) (decay_input) or V − scale(V − V_r) + X;  fire and reset as lif

``sinabs_lif``: Sinabs' IAF/LIF (``snnc::SinabsLIF``), V = 0 at start:

    V' = α·V + X (or (1 − α)·X);  S = V' − θ >= 0 | (V' > 0)·⌊V'/θ⌋ (≤ max_spikes);
    V = V' − S·amount | V'·(S == 0) + amount;  V = relu(V − min) + min (has_min)

``lif_box``: Norse's ``LIFBoxCell`` (``snnc::LIFBox``), V = v_leak at start:

    V' = V + k·((X + v_leak) − V);  Z = V' > v_th;  V = (1 − Z)·V' + Z·(v_reset | V' − v_th)

``lif_current``: Norse's ``LIFCell``, the current-based LIF (``snnc::LIFCurrent``), V =
v_leak and I = 0 at start:

    I' = I + X;  V' = V + k_mem·((v_leak − V) + I');  I = I' + k_syn·I';  Z = V' > v_th;
    V = (1 − Z)·V' + Z·v_reset
"""

from __future__ import annotations

import numpy as np

from snnc.ir import kinds
from snnc.ir.kinds import ANALOG, SPIKE
from snnc.ir.ops.common import same_shape
from snnc.ir.registry import NEURON, TEMPORAL, Attr, op

_F = np.float32


def _spike_kind(node, ins):
    return [SPIKE]


def _timed(node, ins):
    if not ins[0].timed:
        raise ValueError(f"neuron {node.name!r} reads {ins[0].name!r}, which has no time axis")
    return ["TN"]


@op("leaky", arity=1, shape=same_shape, kind=_spike_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"beta": Attr(float, 0.9), "threshold": Attr(float, 1.0), "reset_mechanism": Attr(int, 0),
           "reset_delay": Attr(int, 1)})
def leaky(node, arrays):
    """snnTorch's Leaky: fires on U > θ (strict), resets one step late by default."""
    beta, thr = _F(node.attrs["beta"]), _F(node.attrs["threshold"])
    mech, delay = int(node.attrs["reset_mechanism"]), bool(node.attrs["reset_delay"])
    x = arrays[0].astype(_F, copy=False)
    u = np.zeros(x.shape[1:], _F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        r = (u > thr).astype(_F)
        if mech == 0:
            u1 = beta * u + x[t] - r * thr
        elif mech == 1:
            u1 = beta * ((_F(1.0) - r) * u) + x[t]
        else:
            u1 = beta * u + x[t]
        s = (u1 > thr).astype(_F)
        out[t] = s
        u = (u1 if delay else _reset_now(u1, s - r, thr, mech)).astype(_F, copy=False)
    return [out]


def _reset_now(u1, d, thr, mech: int):
    """snnTorch's ``reset_delay=False``: this step's reset now, less last step's (``d = S − R``)."""
    return u1 - d * thr if mech == 0 else (u1 - d * u1 if mech == 1 else u1)


@op("lif_box", arity=1, shape=same_shape, kind=_spike_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"dt_tau_inv": Attr(float, 0.1), "v_leak": Attr(float, 0.0), "v_th": Attr(float, 1.0),
           "v_reset": Attr(float, 0.0), "reset_subtract": Attr(int, 0)})
def lif_box(node, arrays):
    """Norse's LIFBoxCell: one Euler step per time step, fires on V > v_th (strict)."""
    a = node.attrs
    k, v_leak = _F(a["dt_tau_inv"]), _F(a["v_leak"])
    v_th, v_reset = _F(a["v_th"]), _F(a["v_reset"])
    subtract = bool(a["reset_subtract"])
    x = arrays[0].astype(_F, copy=False)
    v = np.full(x.shape[1:], v_leak, _F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        vd = v + k * ((x[t] + v_leak) - v)
        z = (vd > v_th).astype(_F)
        v = ((_F(1.0) - z) * vd + z * ((vd - v_th) if subtract else v_reset)).astype(_F, copy=False)
        out[t] = z
    return [out]


@op("lif_current", arity=1, shape=same_shape, kind=_spike_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"k_mem": Attr(float, 0.1), "k_syn": Attr(float, -0.2), "v_leak": Attr(float, 0.0),
           "v_th": Attr(float, 1.0), "v_reset": Attr(float, 0.0)})
def lif_current(node, arrays):
    """Norse's LIFCell (CUBA): the input charges a current, the current the membrane."""
    a = node.attrs
    k_mem, k_syn = _F(a["k_mem"]), _F(a["k_syn"])
    v_leak, v_th, v_reset = _F(a["v_leak"]), _F(a["v_th"]), _F(a["v_reset"])
    x = arrays[0].astype(_F, copy=False)
    v = np.full(x.shape[1:], v_leak, _F)
    i = np.zeros(x.shape[1:], _F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        i1 = i + x[t]
        vd = v + k_mem * ((v_leak - v) + i1)
        i = (i1 + k_syn * i1).astype(_F, copy=False)
        z = (vd > v_th).astype(_F)
        v = ((_F(1.0) - z) * vd + z * v_reset).astype(_F, copy=False)
        out[t] = z
    return [out]


@op("synaptic", arity=1, shape=same_shape, kind=_spike_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"alpha": Attr(float, 0.9), "beta": Attr(float, 0.8), "threshold": Attr(float, 1.0),
           "reset_mechanism": Attr(int, 0), "reset_delay": Attr(int, 1)})
def synaptic(node, arrays):
    """snnTorch's Synaptic: a decaying current into a leaky membrane; fires on U > θ."""
    a = node.attrs
    alpha, beta, thr = _F(a["alpha"]), _F(a["beta"]), _F(a["threshold"])
    mech, delay = int(a["reset_mechanism"]), bool(a["reset_delay"])
    x = arrays[0].astype(_F, copy=False)
    i = np.zeros(x.shape[1:], _F)
    u = np.zeros(x.shape[1:], _F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        r = (u > thr).astype(_F)
        i = (alpha * i + x[t]).astype(_F, copy=False)
        u1 = beta * u + i
        u1 = u1 - r * thr if mech == 0 else (u1 - u1 * r if mech == 1 else u1)
        s = (u1 > thr).astype(_F)
        out[t] = s
        u = (u1 if delay else _reset_now(u1, s - r, thr, mech)).astype(_F, copy=False)
    return [out]


@op("sj_lif", arity=1, shape=same_shape, kind=_spike_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"factor": Attr(float, 2.0), "divide": Attr(int, 1), "decay_input": Attr(int, 1),
           "v_threshold": Attr(float, 1.0), "v_reset": Attr(float, 0.0), "soft_reset": Attr(int, 0)})
def sj_lif(node, arrays):
    """SpikingJelly 2.0's LIF charge, rounded as SpikingJelly rounds it; fires on H >= v_th."""
    a = node.attrs
    factor, divide = _F(a["factor"]), bool(a["divide"])
    v_th, soft = _F(a["v_threshold"]), bool(a["soft_reset"])
    v_reset = _F(a["v_reset"])
    v_r = _F(0.0) if soft else v_reset

    def scale(y):
        return y / factor if divide else y * factor

    x = arrays[0].astype(_F, copy=False)
    v = np.full(x.shape[1:], v_r, _F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        h = v + scale(x[t] - (v - v_r)) if a["decay_input"] else (v - scale(v - v_r)) + x[t]
        fired = h >= v_th
        out[t] = fired
        v = np.where(fired, (h - v_th) if soft else v_reset, h).astype(_F, copy=False)
    return [out]


def _sinabs_kind(node, ins):
    """A spike (SingleSpike), or a count: {0..max_spikes} when capped, unbounded (analog) else."""
    if not node.attrs["multi_spike"]:
        return [SPIKE]
    cap = int(node.attrs["max_spikes"])
    return [kinds.count(cap) if cap > 0 else ANALOG]


@op("sinabs_lif", arity=1, shape=same_shape, kind=_sinabs_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"alpha_mem": Attr(float, 1.0), "norm_input": Attr(int, 0), "threshold": Attr(float, 1.0),
           "multi_spike": Attr(int, 1), "max_spikes": Attr(int, 0), "reset_to_value": Attr(int, 0),
           "reset_amount": Attr(float, 1.0), "min_v_mem": Attr(float, 0.0), "has_min": Attr(int, 0)})
def sinabs_lif(node, arrays):
    """Sinabs' IAF/LIF: SingleSpike fires on V >= θ, MultiSpike emits ⌊V/θ⌋ spikes."""
    a = node.attrs
    alpha, thr, amount = _F(a["alpha_mem"]), _F(a["threshold"]), _F(a["reset_amount"])
    v_min, cap = _F(a["min_v_mem"]), int(a["max_spikes"])
    x = arrays[0].astype(_F, copy=False)
    v = np.zeros(x.shape[1:], _F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        drive = (_F(1.0) - alpha) * x[t] if a["norm_input"] else x[t]
        v1 = alpha * v + drive
        if a["multi_spike"]:
            s = (v1 > 0).astype(_F) * np.floor(v1 / thr)
            s = np.minimum(s, _F(cap)) if cap > 0 else s
        else:
            s = ((v1 - thr) >= 0).astype(_F)
        v = v1 * (s == 0).astype(_F) + amount if a["reset_to_value"] else v1 - s * amount
        if a["has_min"]:
            v = np.maximum(v - v_min, _F(0.0)) + v_min
        v = v.astype(_F, copy=False)
        out[t] = s
    return [out]
