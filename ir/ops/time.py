"""Time-boundary ops: where values enter and leave the time axis.

    repeat_time[T]  x: per sample   -> the same x at each of T steps  (direct encoding)
    mean_time       x: per step     -> (1/T) Σ_t x[t]                 (rate decoding)
    sum_time        x: per step     -> Σ_t x[t]
    select_time[i]  x: per step     -> x[i]                           (e.g. the last step)
"""

from __future__ import annotations

import numpy as np

from snnc.ir import kinds
from snnc.ir.ops.common import same_kind, same_shape
from snnc.ir.registry import TEMPORAL, TIME_BOUNDARY, Attr, op

_TRAITS = {TEMPORAL, TIME_BOUNDARY}


def _to_timed(node, ins):
    if ins[0].timed:
        raise ValueError(f"repeat_time reads {ins[0].name!r}, which already has a time axis")
    return ["TN"]


def _to_static(node, ins):
    if not ins[0].timed:
        raise ValueError(f"{node.op} reads {ins[0].name!r}, which has no time axis")
    return ["N"]


@op("repeat_time", arity=1, shape=same_shape, kind=same_kind, axes=_to_timed, traits=_TRAITS,
    attrs={"timesteps": Attr(int)})
def repeat_time(node, arrays):
    """The same static input at every one of ``timesteps`` steps: [N, ...] -> [T, N, ...]."""
    x = arrays[0]
    return [np.broadcast_to(x[None], (node.attrs["timesteps"], *x.shape)).copy()]


def _sum_kind(node, ins, steps):
    return kinds.dot(ins[0].kind, kinds.Kind.of([1.0]), steps)


def _mean_time_kind(node, ins):
    steps = node.attrs["timesteps"]
    if not steps:
        return [kinds.ANALOG]
    return [kinds.mul(_sum_kind(node, ins, steps), kinds.Kind.of([1.0 / steps]))]


@op("mean_time", arity=1, shape=same_shape, kind=_mean_time_kind, axes=_to_static, traits=_TRAITS,
    attrs={"timesteps": Attr(int, 0)})
def mean_time(node, arrays):
    """Average over the time axis: [T, N, ...] -> [N, ...] (a firing rate for spikes).
    ``timesteps`` (0 = unknown) only refines the output kind."""
    x = arrays[0]
    return [x.mean(axis=0, dtype=np.float64).astype(x.dtype) if x.dtype.kind == "f" else x.mean(axis=0)]


def _sum_time_kind(node, ins):
    steps = node.attrs["timesteps"]
    return [_sum_kind(node, ins, steps) if steps else kinds.ANALOG]


@op("sum_time", arity=1, shape=same_shape, kind=_sum_time_kind, axes=_to_static, traits=_TRAITS,
    attrs={"timesteps": Attr(int, 0)})
def sum_time(node, arrays):
    """Sum over the time axis: [T, N, ...] -> [N, ...] (a spike count)."""
    return [arrays[0].sum(axis=0)]


@op("select_time", arity=1, shape=same_shape, kind=same_kind, axes=_to_static, traits=_TRAITS,
    attrs={"index": Attr(int)})
def select_time(node, arrays):
    """One step of the time axis (negative counts from the end): [T, N, ...] -> [N, ...]."""
    return [arrays[0][node.attrs["index"]]]
