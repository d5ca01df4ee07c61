"""Table lookups: ``embedding`` (a constant table indexed by the network's integer values).

A token embedding (``nn.Embedding``, ONNX ``Gather(table, ids)``) reads a row per id: no
multiply, no add — a memory read, so it costs no synaptic operation.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.kinds import ANALOG
from snnc.ir.registry import op


def _shape(node, ins):
    table = node.params["weight"]
    if table.ndim < 1:
        raise ValueError(f"embedding table must have rank >= 1, got {list(table.shape)}")
    return [(*ins[0].shape, *table.shape[1:])]


def _kind(node, ins):
    return [ANALOG]


def _dtype(node, ins):
    if np.dtype(ins[0].dtype).kind not in "iu":
        raise ValueError(f"embedding indices must be integers, got {ins[0].dtype}")
    return [str(node.params["weight"].dtype)]


@op("embedding", arity=1, shape=_shape, kind=_kind, dtype=_dtype, params=("weight",))
def embedding(node, arrays):
    """``weight[ids]`` (ONNX Gather on axis 0; a negative id counts from the end)."""
    table = node.params["weight"]
    ids = np.asarray(arrays[0]).astype(np.int64)
    if ids.size and (ids.max() >= len(table) or ids.min() < -len(table)):
        raise ValueError(f"embedding {node.name!r}: ids must lie in [-{len(table)}, {len(table)}), "
                         f"got {ids.min()}..{ids.max()}")
    return [np.take(table, ids, axis=0)]
