"""Helpers the op families share: shape rules, broadcasting, attribute access."""

from __future__ import annotations

import numpy as np

from snnc.ir.kinds import Kind


def same_shape(node, ins):
    return [ins[0].shape] * len(node.outputs)


def same_kind(node, ins) -> list[Kind]:
    return [ins[0].kind] * len(node.outputs)


def broadcast_shapes(node, ins):
    try:
        return [tuple(np.broadcast_shapes(*(v.shape for v in ins)))]
    except ValueError:
        raise ValueError(f"cannot broadcast shapes {[v.shape for v in ins]}") from None


def align(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Give every ``[B, *shape]`` array the same rank by inserting 1s after the batch axis,
    so numpy broadcasts the per-sample shapes right-aligned, batch against batch."""
    rank = max(a.ndim for a in arrays)
    return [a.reshape(a.shape[0], *([1] * (rank - a.ndim)), *a.shape[1:]) for a in arrays]


def norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis % rank


def prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))
