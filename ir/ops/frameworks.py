"""Other frameworks' neurons, where no ``lif``/``if`` expresses them exactly.

``leaky``: snnTorch's ``snn.Leaky`` (snnTorch 1.0 ``_neurons/leaky.py``), the IR side of
the ``snnc::Leaky`` dialect op (:mod:`snnc.onnx.dialect_frameworks`), state U = 0 at
start, per step in float32:

    R = U > θ;   U' = β·U + X − R·θ (subtract) | β·((1 − R)·U) + X (zero) | β·U + X (none)
    S = U' > θ;  without reset_delay: D = S − R, U' −= D·θ (subtract) or D·U' (zero)
"""

from __future__ import annotations

import numpy as np

from snnc.ir.kinds import SPIKE
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
    beta, thr = _F(node.attrs.get("beta", 0.9)), _F(node.attrs.get("threshold", 1.0))
    mech, delay = int(node.attrs.get("reset_mechanism", 0)), bool(node.attrs.get("reset_delay", 1))
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
        if not delay:
            d = s - r
            u1 = u1 - d * thr if mech == 0 else (u1 - d * u1 if mech == 1 else u1)
        out[t] = s
        u = u1.astype(_F, copy=False)
    return [out]
