"""ECMT's conversion ops (supplement ``000_*``): the multi-threshold neuron, the running
mean and its inverse, and the spiking matrix product. All see the time axis (``TEMPORAL``):
``run`` gets ``[T, N, ...]``.

    multi_threshold  V += x; fire the largest λ = θ·gap^k (k < levels) with V ≥ λ − θ/2,
                     else −λ for −V ≥ λ − θ⁻/2; V −= fired            -> graded(levels)
    cum_mean         CumMean(x)(t) = S(t)/t                  (Eq. 2)  -> analog
    delta            Delta(z)(t) = t·z(t) − (t−1)·z(t−1)     (Thm 1)  -> analog
    spiking_matmul   O(t) = S_A(t)S_B(t)/t − S_A(t−1)S_B(t−1)/(t−1)  (Thm 2, Eq. 5-7, 11-12)

The last three count time: t is the step number from 1. ``start`` (default 0) moves their
clock: t = step − start + 1, and steps before ``start`` output 0 (their inputs there are
ignored). A float graph leaves it at 0; on Loihi the quantiser's ``time-origin`` rule sets
it to the lag of the op's input (the steps Lava's synaptic delays put before its first
value), so S(t)/t divides by the steps that carried the input, not by the empty ones too.

Expectation compensation of a stateless f (Theorem 1) is ``delta(f(cum_mean(x)))``: no op
of its own. Numerics follow :mod:`snnc.nn.conversion` and the ``snnc`` dialect's function
bodies (float32; the multi-threshold neuron spike for spike).
"""

from __future__ import annotations

import numpy as np

from snnc.ir.kinds import ANALOG, float32_powers, graded_spikes
from snnc.ir.ops.common import prod, same_shape
from snnc.ir.registry import NEURON, TEMPORAL, Attr, op

_F = np.float32


def _timed(node, ins):
    for v in ins:
        if not v.timed:
            raise ValueError(f"{node.op} {node.name!r} reads {v.name!r}, which has no time axis")
    return ["TN"]


def _analog(node, ins):
    return [ANALOG]


def _thetas(node, name: str) -> np.ndarray:
    return np.asarray(node.attrs[name], dtype=_F).reshape(-1)


def _mt_kind(node, ins):
    return [graded_spikes(int(node.attrs["levels"]), float(node.attrs["gap"]),
                          _thetas(node, "theta_pos"), _thetas(node, "theta_neg"))]


def _mt_shape(node, ins):
    for name in ("theta_pos", "theta_neg"):
        th = _thetas(node, name)
        if th.size == 0 or not (np.isfinite(th).all() and (th > 0).all()):
            raise ValueError(f"multi_threshold {node.name!r}: {name} must be finite values > 0")
        if th.size > 1 and (not ins[0].shape or ins[0].shape[0] != th.size):
            raise ValueError(f"multi_threshold {node.name!r}: {th.size} per-channel {name} values "
                             f"need {th.size} channels, input is {ins[0].shape}")
    if int(node.attrs["levels"]) < 1:
        raise ValueError(f"multi_threshold {node.name!r}: levels must be >= 1")
    return [ins[0].shape]


def _tables(node, name: str, per_sample: tuple) -> tuple[np.ndarray, np.ndarray]:
    """``λ_k`` and ``λ_k − θ/2`` as ``[levels, C, 1, ...]`` (ascending k), float32."""
    th = _thetas(node, name)
    scale = np.array(float32_powers(node.attrs["gap"], int(node.attrs["levels"])), dtype=_F)
    if th.size > 1:
        th = th.reshape(th.size, *([1] * (len(per_sample) - 1)))
    else:
        th = th.reshape(())
    levels = (scale.reshape(-1, *([1] * th.ndim)) * th).astype(_F)
    return levels, (levels - th / _F(2)).astype(_F)


@op("multi_threshold", arity=1, shape=_mt_shape, kind=_mt_kind, axes=_timed, traits={NEURON, TEMPORAL},
    attrs={"levels": Attr(int), "gap": Attr(float, 2.0), "theta_pos": Attr("floats"),
           "theta_neg": Attr("floats")})
def multi_threshold(node, arrays):
    """ECMT multi-threshold neuron (Section 4.3): one signed graded spike ±θ·gap^k per step,
    the largest level reached; V keeps the remainder (reset by subtraction)."""
    x = arrays[0].astype(_F, copy=False)
    lp, bp = _tables(node, "theta_pos", x.shape[2:])
    ln, bn = _tables(node, "theta_neg", x.shape[2:])
    v = np.zeros(x.shape[1:], dtype=_F)
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        v = v + x[t]
        s = np.zeros_like(v)
        for k in range(lp.shape[0]):            # ascending k: the last level reached wins
            s = np.where(-v >= bn[k], -ln[k], s)
        for k in range(lp.shape[0]):
            s = np.where(v >= bp[k], lp[k], s)
        s = s.astype(_F, copy=False)
        v = v - s
        out[t] = s
    return [out]


def _time_index(x: np.ndarray, start: int = 0) -> np.ndarray:
    """t = step − start + 1 per step (<= 0 before ``start``), shaped to broadcast over x."""
    return (np.arange(1, x.shape[0] + 1) - start).astype(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def _from(x: np.ndarray, start: int) -> np.ndarray:
    """x with the steps before ``start`` zeroed (the op's clock has not started)."""
    if start <= 0:
        return x
    x = x.copy()
    x[:start] = 0
    return x


def _over_t(s: np.ndarray, start: int) -> np.ndarray:
    """S(t)/t on the op's clock, 0 before it starts."""
    t = _time_index(s, start)
    return np.where(t > 0, s / np.maximum(t, 1), 0).astype(s.dtype, copy=False)


def _shift(x: np.ndarray) -> np.ndarray:
    """x(t−1), with 0 at t = 1."""
    return np.concatenate([np.zeros_like(x[:1]), x[:-1]], axis=0)


def _elementwise_flops(node, ins, outs):
    return prod(outs[0].shape)


@op("cum_mean", arity=1, shape=same_shape, kind=_analog, axes=_timed, flops=_elementwise_flops,
    traits={TEMPORAL}, attrs={"start": Attr(int, 0)})
def cum_mean(node, arrays):
    """Running mean over time, S(t)/t (ECMT supplement Eq. 2): the ANN activation estimate."""
    start = int(node.attrs.get("start", 0))
    x = _from(arrays[0], start)
    return [_over_t(np.cumsum(x, axis=0), start).astype(x.dtype, copy=False)]


@op("delta", arity=1, shape=same_shape, kind=_analog, axes=_timed, flops=_elementwise_flops,
    traits={TEMPORAL}, attrs={"start": Attr(int, 0)})
def delta(node, arrays):
    """t·z(t) − (t−1)·z(t−1): per-step outputs whose running mean is z (ECMT Theorem 1)."""
    start = int(node.attrs.get("start", 0))
    z = _from(arrays[0], start)
    tz = np.maximum(_time_index(z, start), 0) * z
    return [(tz - _shift(tz)).astype(z.dtype, copy=False)]


def _smm_shape(node, ins):
    a, b = ins[0].shape, ins[1].shape
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        raise ValueError(f"spiking_matmul of {a} and {b}: inner dimensions differ")
    return [(*np.broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1])]


def _smm_flops(node, ins, outs):
    """Dense MACs of A(t)B(t) at one step: the ANN's matmul."""
    return prod(outs[0].shape) * ins[0].shape[-1]


@op("spiking_matmul", arity=2, shape=_smm_shape, kind=_analog, axes=_timed, flops=_smm_flops,
    traits={TEMPORAL}, attrs={"start": Attr(int, 0)})
def spiking_matmul(node, arrays):
    """ECMT Theorem 2: the product of two spike streams, S_K(t)/t − S_K(t−1)/(t−1) with
    S_K(t) = S_A(t)·S_B(t) (Eq. 11-12); its running mean is CumMean(A) @ CumMean(B)."""
    start = int(node.attrs.get("start", 0))
    a, b = (_from(x, start) for x in arrays)
    rank = max(a.ndim, b.ndim)
    a = a.reshape(*a.shape[:2], *([1] * (rank - a.ndim)), *a.shape[2:])
    b = b.reshape(*b.shape[:2], *([1] * (rank - b.ndim)), *b.shape[2:])
    q = _over_t(np.matmul(np.cumsum(a, axis=0), np.cumsum(b, axis=0)), start)
    return [(q - _shift(q)).astype(a.dtype, copy=False)]
