"""Pooling and normalisation.

Per sample ``x: [C, *S]``. MaxPool of spikes is spikes (a max never makes a new value);
average pooling and the normalisations are analog.

    batchnorm:  y = (x - mean) / sqrt(var + eps) * scale + bias     per channel (axis 0)
    layernorm:  y = (x - E[x]) / sqrt(Var[x] + eps) * scale + bias  over axes >= axis
"""

from __future__ import annotations

import itertools

import numpy as np

from snnc.ir.kinds import ANALOG
from snnc.ir.ops.common import norm_axis, prod, same_kind, same_shape
from snnc.ir.ops.synaptic import windows
from snnc.ir.registry import NONSPIKE, NORMALIZATION, SPIKE_PRESERVING, Attr, op

_POOL_ATTRS = {"kernel_shape": Attr("ints"), "strides": Attr("ints", ()), "pads": Attr("ints", ()),
               "dilations": Attr("ints", ()), "ceil_mode": Attr(int, 0)}


def pool_geometry(node, spatial: int):
    strides = tuple(node.attrs["strides"] or (1,) * spatial)
    pads = tuple(node.attrs["pads"] or (0,) * (2 * spatial))
    dilations = tuple(node.attrs["dilations"] or (1,) * spatial)
    return tuple(node.attrs["kernel_shape"]), strides, pads, dilations


def _pool_out(n, k, s, pb, pe, d, ceil):
    span = d * (k - 1) + 1
    if ceil:
        out = -(-(n + pb + pe - span) // s) + 1
        # the last window must start inside the input or the begin padding (ONNX, PyTorch)
        if (out - 1) * s >= n + pb:
            out -= 1
        return out
    return (n + pb + pe - span) // s + 1


def _pool_shape(node, ins):
    x = ins[0].shape
    k, s, p, d = pool_geometry(node, len(node.attrs["kernel_shape"]))
    spatial = len(k)
    if len(x) != spatial + 1:
        raise ValueError(f"{spatial}-d pooling reads a rank-{len(x)} input {x}")
    ceil = node.attrs["ceil_mode"]
    return [(x[0], *[_pool_out(x[i + 1], k[i], s[i], p[i], p[i + spatial], d[i], ceil) for i in range(spatial)])]


def _pooled(node, x, pad_value):
    """Windows ``[B, C, *S', *K]`` including the extra end padding that ceil_mode needs."""
    k, s, p, d = pool_geometry(node, len(node.attrs["kernel_shape"]))
    spatial = len(k)
    out = _pool_shape(node, [type("V", (), {"shape": x.shape[1:]})])[0][1:]
    pads = list(p)
    for i in range(spatial):
        need = (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (x.shape[2 + i] + p[i] + p[i + spatial])
        pads[i + spatial] += max(need, 0)
    win = windows(x, k, s, pads, d, pad_value=pad_value)
    index = (slice(None), slice(None)) + tuple(slice(0, o) for o in out)
    return win[index], pads


def _pool_flops(node, ins, outs):
    return prod(outs[0].shape) * prod(node.attrs["kernel_shape"])


@op("maxpool", arity=1, shape=_pool_shape, kind=same_kind, flops=_pool_flops,
    traits={SPIKE_PRESERVING}, attrs=dict(_POOL_ATTRS))
def maxpool(node, arrays):
    """Max over each window; padding never wins (-inf)."""
    win, _ = _pooled(node, arrays[0], -np.inf)
    # one elementwise maximum per kernel tap: much faster than reducing strided window axes
    out = None
    for tap in itertools.product(*(range(k) for k in node.attrs["kernel_shape"])):
        view = win[(Ellipsis, *tap)]
        out = view.copy() if out is None else np.maximum(out, view, out=out)
    return [out]


def _analog(node, ins):
    return [ANALOG]


@op("avgpool", arity=1, shape=_pool_shape, kind=_analog, flops=_pool_flops,
    attrs={**_POOL_ATTRS, "count_include_pad": Attr(int, 0)})
def avgpool(node, arrays):
    """Mean over each window; padded cells count only with count_include_pad (ceil-mode
    overhang never counts)."""
    x = arrays[0]
    spatial = len(node.attrs["kernel_shape"])
    win, pads = _pooled(node, x, 0.0)
    axes = tuple(range(-spatial, 0))
    total = win.sum(axis=axes, dtype=np.float64)
    ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
    if node.attrs["count_include_pad"]:
        # declared padding counts, ceil-mode overhang does not: pad the ones with 1s first
        k, s, p, d = pool_geometry(node, spatial)
        ones = np.pad(ones, [(0, 0), (0, 0)] + [(p[i], p[i + spatial]) for i in range(spatial)],
                      constant_values=1.0)
        extra = [0] * spatial + [pads[i + spatial] - p[i + spatial] for i in range(spatial)]
        cwin = windows(ones, k, s, extra, d, pad_value=0.0)
    else:
        cwin, _ = _pooled(node, ones, 0.0)
    counts = cwin[(slice(None), slice(None)) + tuple(slice(0, n) for n in win.shape[2:2 + spatial])]
    return [(total / counts.sum(axis=axes)).astype(x.dtype)]


def _gap_shape(node, ins):
    x = ins[0].shape
    return [(x[0], *([1] * (len(x) - 1)))]


@op("global_avgpool", arity=1, shape=_gap_shape, kind=_analog,
    flops=lambda node, ins, outs: prod(ins[0].shape))
def global_avgpool(node, arrays):
    """Mean over every spatial position, per channel: ``[C, *S] -> [C, 1, …]``."""
    x = arrays[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=np.float64).astype(x.dtype)]


def _bn_shape(node, ins):
    c = node.params["scale"].shape[0]
    if not ins[0].shape or ins[0].shape[0] != c:
        raise ValueError(f"batchnorm over {c} channels reads {ins[0].shape}")
    return [ins[0].shape]


@op("batchnorm", arity=1, shape=_bn_shape, kind=_analog,
    flops=lambda node, ins, outs: prod(ins[0].shape), traits={NORMALIZATION},
    attrs={"epsilon": Attr(float, 1e-5)}, params=("scale", "bias", "mean", "var"))
def batchnorm(node, arrays):
    """Inference BatchNorm with running statistics, per channel (axis 0 of a sample).

    Computed as onnxruntime's CPU kernel does, in float32: ``a = scale / sqrt(var + eps)``,
    ``y = x·a + (bias - mean·a)`` (two passes over x instead of four)."""
    x = arrays[0]
    shape = (1, -1) + (1,) * (x.ndim - 2)
    p = {k: v.astype(np.float32, copy=False) for k, v in node.params.items()}
    eps = np.float32(node.attrs["epsilon"])
    a = p["scale"] * (np.float32(1.0) / np.sqrt(p["var"] + eps))
    b = p["bias"] - p["mean"] * a
    y = x * a.reshape(shape).astype(x.dtype, copy=False)
    y += b.reshape(shape).astype(x.dtype, copy=False)
    return [y]


@op("layernorm", arity=1, shape=same_shape, kind=_analog,
    flops=lambda node, ins, outs: 2 * prod(ins[0].shape), traits={NORMALIZATION, NONSPIKE},
    attrs={"axis": Attr(int, -1), "epsilon": Attr(float, 1e-5)},
    params=("scale",), optional_params=("bias",))
def layernorm(node, arrays):
    """Normalise over the per-sample axes from ``axis`` on, then scale and shift."""
    x = arrays[0]
    axis = norm_axis(node.attrs["axis"], x.ndim - 1) + 1
    axes = tuple(range(axis, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    y = centred / np.sqrt(var + np.float32(node.attrs["epsilon"])) * node.params["scale"]
    if "bias" in node.params:
        y = y + node.params["bias"]
    return [y.astype(x.dtype)]


@op("softmax", arity=1, shape=same_shape, kind=_analog, flops=lambda node, ins, outs: 3 * prod(ins[0].shape),
    traits={NONSPIKE}, attrs={"axis": Attr(int, -1)})
def softmax(node, arrays):
    """exp(x - max) / sum over ``axis`` (per-sample)."""
    x = arrays[0]
    axis = norm_axis(node.attrs["axis"], x.ndim - 1) + 1
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return [(e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)]


@op("cumsum", arity=1, shape=same_shape, kind=_analog, flops=lambda node, ins, outs: prod(ins[0].shape),
    traits={NONSPIKE}, attrs={"axis": Attr(int, -1), "exclusive": Attr(int, 0), "reverse": Attr(int, 0)})
def cumsum(node, arrays):
    """Running sum along ``axis`` (per-sample; ONNX CumSum): ``exclusive`` leaves the
    element itself out, ``reverse`` sums from the end. transformers' RoBERTa numbers its
    tokens with it: position ids = cumsum(ids != pad) · mask + pad."""
    x = arrays[0]
    axis = norm_axis(node.attrs["axis"], x.ndim - 1) + 1
    y = np.flip(x, axis) if node.attrs["reverse"] else x
    out = np.cumsum(y, axis=axis, dtype=x.dtype)
    if node.attrs["exclusive"]:
        out = out - y
    return [np.flip(out, axis) if node.attrs["reverse"] else out]
