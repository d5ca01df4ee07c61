"""Per-output-channel affine maps folded into a synaptic layer's weights and bias.

A conv, conv_transpose or linear computes ``y[o] = Σ W[o, …]·x + b[o]`` per output
channel ``o``; ``f[o]·y[o] + c[o]`` is the same layer with ``W'[o, …] = f[o]·W[o, …]``
and ``b'[o] = f[o]·b[o] + c[o]``. Where ``o`` sits in the weight tensor:

    conv            weight [O, C/g, *K]     o on axis 0
    conv_transpose  weight [C, O/g, *K]     o = group·(O/g) + j for W[group·(C/g) + i, j]
    linear          weight [O, I]           o on axis 0 (output features: the last axis)

The arithmetic runs in float64 and rounds once to the weight's dtype.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Node

FOLDABLE = frozenset({"conv", "conv_transpose", "linear"})


def out_channel_axis(node: Node) -> int:
    """The per-sample axis of ``node``'s output that holds its output channels."""
    return -1 if node.op == "linear" else 0


def out_channels(node: Node) -> int:
    w = node.params["weight"]
    if node.op == "conv_transpose":
        return w.shape[1] * node.attrs["group"]
    return w.shape[0]


def fold_affine(node: Node, factor: np.ndarray, shift: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """New params for ``node`` computing ``factor[o]·node(x)[o] + shift[o]`` (float64 -> dtype)."""
    w = node.params["weight"]
    dtype = w.dtype
    factor = np.asarray(factor, dtype=np.float64).reshape(-1)
    w64 = w.astype(np.float64)
    if node.op == "conv_transpose":
        group = node.attrs["group"]
        cin, opg, *kernel = w.shape
        grouped = w64.reshape(group, cin // group, opg, *kernel)
        scaled = grouped * factor.reshape(group, 1, opg, *([1] * len(kernel)))
        new_w = scaled.reshape(w.shape)
    else:
        new_w = w64 * factor.reshape(-1, *([1] * (w.ndim - 1)))
    params = dict(node.params)
    params["weight"] = new_w.astype(dtype)
    bias = node.params.get("bias")
    if bias is not None or shift is not None:
        b = np.zeros(len(factor)) if bias is None else bias.astype(np.float64)
        b = b * factor
        if shift is not None:
            b = b + np.asarray(shift, dtype=np.float64).reshape(-1)
        if bias is not None or np.any(b):       # x + 0 is x: no bias to add
            params["bias"] = b.astype(dtype)
    return params
