"""SIT's Spiking-Softmax neurons (``../shared/seeds/001_*``, Eq. 1-10), two ops:

    si_exp   v(1) = x; z(t) = Θ(v(t) − T(t)); v(t+1) = v(t) − h(t)·z(t);
             out = Σ_{t≤K} d(t)·z(t)                            (Eq. 2-4)  -> analog
    si_norm  V_th = Σ_axis w;  out = max(0, n_spike·w / V_th),
             0 where V_th ≤ 0                                   (Eq. 5, 10) -> analog

Spiking-Softmax (Eq. 1) is ``si_norm(si_exp(x))`` (divided by n_spike when it is not 1),
with an optional ``sigmoid`` before it (SIT Section 4.3.3).

Both are stateless with respect to the network's time axis: the K steps of SI-exp are
its own inner steps, run in full within each time step of the SNN, so ``run`` gets the
folded ``[B, *shape]`` like any stateless op. Numerics follow :mod:`snnc.nn.sit` and the
function bodies of :mod:`snnc.onnx.dialect_sit` (float32; SI-exp spike for spike).
"""

from __future__ import annotations

import numpy as np

from snnc.ir.kinds import ANALOG
from snnc.ir.ops.common import norm_axis, prod
from snnc.ir.registry import Attr, op

_F = np.float32


def _analog(node, ins):
    return [ANALOG]


def tables(node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SI-exp's ``T(t)``, ``h(t)``, ``d(t)`` as float32 ``[K]`` arrays."""
    return tuple(np.asarray(node.attrs[k], dtype=_F).reshape(-1) for k in ("T", "h", "d"))


def _si_exp_shape(node, ins):
    k = int(node.attrs["K"])
    if k < 1:
        raise ValueError(f"si_exp {node.name!r}: K must be >= 1, got {k}")
    for name, tab in zip(("T", "h", "d"), tables(node)):
        if tab.shape != (k,) or not np.isfinite(tab).all():
            raise ValueError(f"si_exp {node.name!r}: table {name} must hold K = {k} finite values, "
                             f"got {tab.size}")
    return [ins[0].shape]


def si_exp_spikes(node, x: np.ndarray) -> np.ndarray:
    """SI-exp's spike train z, ``[K, *x.shape]`` (0/1 float32): Eq. 2-3 for every element."""
    th, h, _ = tables(node)
    v = x.astype(_F, copy=False)
    z = np.empty((th.size, *x.shape), dtype=_F)
    for t in range(th.size):
        fired = v >= th[t]
        z[t] = fired
        v = np.where(fired, v - h[t], v)
    return z


def _si_exp_flops(node, ins, outs):
    """K inner steps per element (at most one accumulation of d(t) each)."""
    return int(node.attrs["K"]) * prod(ins[0].shape)


@op("si_exp", arity=1, shape=_si_exp_shape, kind=_analog, flops=_si_exp_flops,
    attrs={"K": Attr(int), "T": Attr("floats"), "h": Attr("floats"), "d": Attr("floats")})
def si_exp(node, arrays):
    """SIT's SI-exp neuron (Eq. 2-4): at most K spikes per element whose d-weighted sum
    approximates exp(x) on [−1, 1]; stateless over the network's time steps."""
    x = arrays[0]
    z = si_exp_spikes(node, x)
    d = tables(node)[2].reshape(-1, *([1] * x.ndim))
    return [(d * z).sum(axis=0, dtype=_F)]


def _si_norm_shape(node, ins):
    norm_axis(node.attrs["axis"], len(ins[0].shape))
    n = float(node.attrs["n_spike"])
    if not (np.isfinite(n) and n > 0):
        raise ValueError(f"si_norm {node.name!r}: n_spike must be > 0, got {n}")
    return [ins[0].shape]


def _si_norm_flops(node, ins, outs):
    """Per element: one addition into V_th, one scaling by n_spike, one division."""
    return 3 * prod(ins[0].shape)


@op("si_norm", arity=1, shape=_si_norm_shape, kind=_analog, flops=_si_norm_flops,
    attrs={"axis": Attr(int, -1), "n_spike": Attr(float, 1.0)})
def si_norm(node, arrays):
    """SIT's SI-norm neuron, Fig. 5b (Eq. 5, 10): max(0, n_spike·w/Σ_axis w), 0 where the
    sum is ≤ 0; the spike count whose rate (÷ n_spike) is the softmax estimate."""
    w = arrays[0].astype(_F, copy=False)
    axis = norm_axis(node.attrs["axis"], w.ndim - 1) + 1
    v_th = w.sum(axis=axis, keepdims=True, dtype=_F)
    ok = v_th > 0
    safe = np.where(ok, v_th, _F(1))
    out = np.maximum(_F(node.attrs["n_spike"]) * w / safe, _F(0))
    return [np.where(ok, out, _F(0)).astype(_F, copy=False)]
