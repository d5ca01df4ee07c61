"""Spiking neurons: stateful over time, spikes out.

The equations are those of :mod:`snnc.nn` and of the ``snnc`` ONNX dialect's function
bodies (SpikingJelly's multi-step LIF/IF; Spikingformer Eq. 1-2), op for op in float32:

    decay_input:                      H = V + (X - (V - V_reset)) / tau
    not decay_input, V_reset != 0:    H = V - (V - V_reset) / tau + X
    not decay_input, V_reset == 0:    H = V * (1 - 1/tau) + X
    IF:                               H = V + X
    S = H >= V_th;  V = S ? (soft ? H - V_th : V_reset) : H;  V before step 0 = V_reset
    (0 for soft reset).
"""

from __future__ import annotations

import numpy as np

from snnc.ir.kinds import SPIKE
from snnc.ir.ops.common import same_shape
from snnc.ir.registry import NEURON, TEMPORAL, Attr, op

_F = np.float32
_RESET = {"v_threshold": Attr(float, 1.0), "v_reset": Attr(float, 0.0), "soft_reset": Attr(int, 0)}


def _spike_kind(node, ins):
    return [SPIKE]


def _timed(node, ins):
    if not ins[0].timed:
        raise ValueError(f"neuron {node.name!r} reads {ins[0].name!r}, which has no time axis")
    _check_attrs(node)
    return ["TN"]


def _check_attrs(node) -> None:
    """Attribute values the equations above cannot run: a NaN or infinite threshold or
    reset (no spike, or every step a spike, and a Loihi threshold that does not quantise),
    tau of 1 or less (a leak at or past the reset: 1/tau >= 1; tau=0 divides by zero),
    flags other than 0/1. Checked as the op's rule, so every front end (ONNX, IR JSON) refuses them."""
    attrs = node.attrs
    for name in ("v_threshold", "v_reset", "tau"):
        if name in attrs and not np.isfinite(attrs[name]):
            raise ValueError(f"attribute {name!r} is {attrs[name]}; it must be a finite number")
    if "tau" in attrs and not attrs["tau"] > 1.0:
        raise ValueError(f"attribute 'tau' is {attrs['tau']}; the membrane time constant must be > 1")
    for name in ("decay_input", "soft_reset"):
        if name in attrs and attrs[name] not in (0, 1):
            raise ValueError(f"attribute {name!r} is {attrs[name]}; it is a flag, 0 or 1")


def _simulate(node, x: np.ndarray, charge) -> np.ndarray:
    """Run ``charge(v, x_t) -> H`` over ``x: [T, N, ...]``, firing and resetting each step."""
    v_th = _F(node.attrs["v_threshold"])
    soft = bool(node.attrs["soft_reset"])
    v_reset = _F(node.attrs["v_reset"])
    x = x.astype(_F, copy=False)
    v = np.full(x.shape[1:], _F(0.0) if soft else v_reset, dtype=_F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        h = charge(v, x[t])
        fired = h >= v_th
        out[t] = fired
        v = np.where(fired, (h - v_th) if soft else v_reset, h).astype(_F, copy=False)
    return out


@op("lif", arity=1, shape=same_shape, kind=_spike_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"tau": Attr(float, 2.0), "decay_input": Attr(int, 1), **_RESET})
def lif(node, arrays):
    """Leaky integrate-and-fire (Spikingformer Eq. 1-2): leak by 1/tau, fire at H >= v_th."""
    tau = _F(node.attrs["tau"])
    v_reset = _F(node.attrs["v_reset"])
    keep = _F(1.0) - _F(1.0) / tau
    if node.attrs["decay_input"]:
        def charge(v, x):
            return v + (x - (v - v_reset)) / tau
    elif v_reset == 0:
        def charge(v, x):
            return v * keep + x
    else:
        def charge(v, x):
            return v - (v - v_reset) / tau + x
    return [_simulate(node, arrays[0], charge)]


@op("if", arity=1, shape=same_shape, kind=_spike_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs=dict(_RESET))
def integrate_and_fire(node, arrays):
    """Integrate-and-fire, no leak: H = V + X."""
    return [_simulate(node, arrays[0], lambda v, x: v + x)]
