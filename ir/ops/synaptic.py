"""Synaptic layers (weights times inputs) and the dynamic matrix product.

Per sample, ONNX/PyTorch conventions:

    conv:            x [C, *S] , weight [O, C/g, *K], bias [O]       -> [O, *S']
    conv_transpose:  x [C, *S] , weight [C, O/g, *K], bias [O]       -> [O, *S']
    linear:          x [..., I], weight [O, I], bias [O]             -> [..., O]   (x Wᵀ + b)
    matmul:          a [..., M, K] @ b [..., K, N]                   -> [..., M, N] (no weights)

``pads`` are ONNX's ``[begin_1, …, begin_n, end_1, …, end_n]``. Output size per
spatial axis: ``(S + pad_b + pad_e - d(K - 1) - 1) // s + 1`` (conv).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from snnc.ir.kinds import ANALOG, dot
from snnc.ir.ops.common import prod
from snnc.ir.registry import SYNAPTIC, Attr, op

_CONV_ATTRS = {"strides": Attr("ints", ()), "pads": Attr("ints", ()), "dilations": Attr("ints", ()),
               "group": Attr(int, 1)}


def conv_geometry(node, spatial: int):
    """``(strides, pads, dilations)`` with ONNX defaults filled in for ``spatial`` axes;
    a stride or dilation below 1, a negative pad or a wrong count is refused (a hand-made
    IR document would otherwise divide by zero)."""
    strides = tuple(node.attrs["strides"] or (1,) * spatial)
    pads = tuple(node.attrs["pads"] or (0,) * (2 * spatial))
    dilations = tuple(node.attrs["dilations"] or (1,) * spatial)
    if len(strides) != spatial or len(dilations) != spatial or len(pads) != 2 * spatial:
        raise ValueError(f"strides {list(strides)}, pads {list(pads)}, dilations {list(dilations)} do not fit "
                         f"a {spatial}-d kernel")
    if min(strides + dilations, default=1) < 1 or min(pads, default=0) < 0:
        raise ValueError(f"strides {list(strides)} and dilations {list(dilations)} must be >= 1, "
                         f"pads {list(pads)} >= 0")
    return strides, pads, dilations


def check_bias(node, channels: int) -> None:
    """A bias holds one value per output channel (ONNX shape inference does not check it)."""
    bias = node.params.get("bias")
    if bias is not None and tuple(np.shape(bias)) != (channels,):
        raise ValueError(f"bias of shape {list(np.shape(bias))} should be [{channels}], one per output channel")


def _conv_shape(node, ins):
    x, w = ins[0].shape, node.params["weight"].shape
    spatial = len(w) - 2
    if len(x) != spatial + 1:
        raise ValueError(f"conv with a {spatial}-d kernel reads a rank-{len(x)} input {x}")
    group = node.attrs["group"]
    if x[0] != w[1] * group:
        raise ValueError(f"conv weight {w} with group {group} expects {w[1] * group} channels, input has {x[0]}")
    s, p, d = conv_geometry(node, spatial)
    out = [(x[i + 1] + p[i] + p[i + spatial] - d[i] * (w[i + 2] - 1) - 1) // s[i] + 1 for i in range(spatial)]
    if min(out) < 1:
        raise ValueError(f"conv output would be empty: input {x}, kernel {w[2:]}")
    check_bias(node, w[0])
    return [(w[0], *out)]


def _conv_flops(node, ins, outs):
    w = node.params["weight"].shape
    return prod(outs[0].shape) * prod(w[1:])


def axis_taps(n_in: int, n_out: int, kernel: int, stride: int, pad_begin: int, dilation: int,
              transposed: bool = False) -> np.ndarray:
    """For each input position on one axis, how many (output position, kernel tap) pairs
    read it: ``o·s - p + j·d == i`` (conv), ``o == i·s + j·d - p`` (transposed conv), with
    ``0 <= o < n_out``, ``0 <= j < kernel``. Positions that only meet padding count 0."""
    count = np.zeros(n_in, dtype=np.int64)
    i = np.arange(n_in)
    for j in range(kernel):
        if transposed:
            o = i * stride + j * dilation - pad_begin
            count += (o >= 0) & (o < n_out)
        else:
            pos = np.arange(n_out) * stride - pad_begin + j * dilation
            count[pos[(pos >= 0) & (pos < n_in)]] += 1      # one hit per (o, j): pos is unique
    return count


def _spatial_fanout(in_shape, out_shape, kernel, strides, pads, dilations, per_channel: int,
                    transposed: bool = False) -> np.ndarray:
    """``per_channel`` output channels times the product of the per-axis tap counts (a
    receptive field is a product of intervals), broadcast to the input ``[C, *S]``."""
    spatial = len(kernel)
    total = np.full((), per_channel, dtype=np.int64)
    for a in range(spatial):
        taps = axis_taps(in_shape[a + 1], out_shape[a + 1], kernel[a], strides[a], pads[a], dilations[a],
                         transposed)
        total = total[..., None] * taps
    return np.broadcast_to(total, tuple(in_shape)).copy()


def _conv_fanout(node, ins, outs):
    """Synapses per input element: the O/g output channels of its group times every output
    position whose receptive field covers it (padding, stride and dilation aware)."""
    w = node.params["weight"].shape
    s, p, d = conv_geometry(node, len(w) - 2)
    return _spatial_fanout(ins[0].shape, outs[0].shape, w[2:], s, p, d, w[0] // node.attrs["group"])


def _tconv_fanout(node, ins, outs):
    """Synapses per input element: the O/g output channels times the kernel taps that land
    inside the (cropped) output."""
    w = node.params["weight"].shape
    s, p, d = conv_geometry(node, len(w) - 2)
    return _spatial_fanout(ins[0].shape, outs[0].shape, w[2:], s, p, d, w[1], transposed=True)


def windows(x: np.ndarray, kernel, strides, pads, dilations, pad_value=0.0) -> np.ndarray:
    """``x [B, C, *S]`` -> a view ``[B, C, *S', *K]`` of every receptive field."""
    spatial = len(kernel)
    width = [(0, 0), (0, 0)] + [(pads[i], pads[i + spatial]) for i in range(spatial)]
    if any(pads):
        x = np.pad(x, width, constant_values=pad_value)
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    view = sliding_window_view(x, span, axis=tuple(range(2, 2 + spatial)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides) \
        + tuple(slice(None, None, d) for d in dilations)
    return view[index]


def conv_nd(x: np.ndarray, weight: np.ndarray, bias, strides, pads, dilations, group: int) -> np.ndarray:
    """Grouped N-d convolution by im2col: columns ``[B, g, C/g·K, S']`` and one matrix
    product per sample and group, written straight in the output layout ``[B, O, S']``.
    A 1x1, stride-1, unpadded convolution reads its input as the columns (no copy)."""
    out_ch, in_per_group, *kernel = weight.shape
    spatial = len(kernel)
    b = x.shape[0]
    if all(k == 1 for k in kernel) and all(s == 1 for s in strides) and not any(pads):
        out_sp = x.shape[2:]
        cols = x.reshape(b, group, in_per_group, prod(out_sp))
    else:
        win = windows(x, kernel, strides, pads, dilations)                  # [B, C, *S', *K]
        out_sp = win.shape[2:2 + spatial]
        # [B, C, *S', *K] -> [B, C, *K, *S'] -> [B, g, C/g*K, S']
        axes = (0, 1, *range(2 + spatial, 2 + 2 * spatial), *range(2, 2 + spatial))
        cols = win.transpose(axes).reshape(b, group, in_per_group * prod(kernel), prod(out_sp))
    w = weight.reshape(group, out_ch // group, in_per_group * prod(kernel))
    y = np.empty((b, group, out_ch // group, cols.shape[-1]), dtype=np.result_type(x.dtype, weight.dtype))
    for i in range(b):      # one BLAS call per sample: numpy's broadcast matmul can miss BLAS
        np.matmul(w, cols[i], out=y[i])
    y = y.reshape(b, out_ch, *out_sp)                                     # [B, g, O/g, S'] -> [B, O, *S']
    if bias is not None:
        y += bias.reshape(1, -1, *([1] * spatial))
    return y.astype(x.dtype, copy=False)


@op("conv", arity=1, shape=_conv_shape, flops=_conv_flops, fanout=_conv_fanout, traits={SYNAPTIC},
    attrs=dict(_CONV_ATTRS), params=("weight",), optional_params=("bias",))
def conv(node, arrays):
    """N-d convolution (cross-correlation), grouped, with zero padding."""
    w = node.params["weight"]
    s, p, d = conv_geometry(node, w.ndim - 2)
    return [conv_nd(arrays[0], w, node.params.get("bias"), s, p, d, node.attrs["group"])]


def _tconv_shape(node, ins):
    x, w = ins[0].shape, node.params["weight"].shape
    spatial = len(w) - 2
    group = node.attrs["group"]
    if x[0] != w[0]:
        raise ValueError(f"conv_transpose weight {w} expects {w[0]} channels, input has {x[0]}")
    s, p, d = conv_geometry(node, spatial)
    op_ = tuple(node.attrs["output_padding"] or (0,) * spatial)
    out = [s[i] * (x[i + 1] - 1) + op_[i] + d[i] * (w[i + 2] - 1) + 1 - p[i] - p[i + spatial]
           for i in range(spatial)]
    check_bias(node, w[1] * group)
    return [(w[1] * group, *out)]


def _tconv_flops(node, ins, outs):
    w = node.params["weight"].shape
    return prod(ins[0].shape) * prod(w[1:])


@op("conv_transpose", arity=1, shape=_tconv_shape, flops=_tconv_flops, fanout=_tconv_fanout,
    traits={SYNAPTIC},
    attrs={**_CONV_ATTRS, "output_padding": Attr("ints", ())},
    params=("weight",), optional_params=("bias",))
def conv_transpose(node, arrays):
    """Transposed convolution: the input dilated by the stride, padded by d(K-1) - pad, then
    convolved with the flipped kernel (in/out channels swapped per group)."""
    x, w = arrays[0], node.params["weight"]
    group = node.attrs["group"]
    spatial = w.ndim - 2
    s, p, d = conv_geometry(node, spatial)
    op_ = tuple(node.attrs["output_padding"] or (0,) * spatial)
    b, c, *size = x.shape
    dilated = np.zeros((b, c, *[(n - 1) * st + 1 for n, st in zip(size, s)]), dtype=x.dtype)
    dilated[(slice(None), slice(None)) + tuple(slice(None, None, st) for st in s)] = x
    kernel = w.shape[2:]
    begin = [d[i] * (kernel[i] - 1) - p[i] for i in range(spatial)]
    end = [d[i] * (kernel[i] - 1) - p[i + spatial] + op_[i] for i in range(spatial)]
    # negative padding crops
    crop = (slice(None), slice(None)) + tuple(
        slice(max(-bg, 0), dilated.shape[2 + i] - max(-en, 0)) for i, (bg, en) in enumerate(zip(begin, end)))
    dilated = dilated[crop]
    cin, opg = w.shape[:2]
    # [Cin, O/g, *K] -> per group [O/g, Cin/g, *K], flipped
    wt = w.reshape(group, cin // group, opg, *kernel).transpose(0, 2, 1, *range(3, 3 + spatial))
    wt = wt.reshape(group * opg, cin // group, *kernel)[(slice(None), slice(None)) + (slice(None, None, -1),) * spatial]
    pads = [max(v, 0) for v in begin] + [max(v, 0) for v in end]
    y = conv_nd(dilated, np.ascontiguousarray(wt), node.params.get("bias"), (1,) * spatial, pads, d, group)
    return [y]


def _linear_shape(node, ins):
    x, w = ins[0].shape, node.params["weight"].shape
    if not x or x[-1] != w[1]:
        raise ValueError(f"linear weight {w} expects {w[1]} input features, input is {x}")
    check_bias(node, w[0])
    return [(*x[:-1], w[0])]


def _linear_flops(node, ins, outs):
    return prod(outs[0].shape) * node.params["weight"].shape[1]


def _linear_fanout(node, ins, outs):
    """Every input element feeds all O outputs of its row."""
    return np.full(ins[0].shape, node.params["weight"].shape[0], dtype=np.int64)


@op("linear", arity=1, shape=_linear_shape, flops=_linear_flops, fanout=_linear_fanout, traits={SYNAPTIC},
    params=("weight",), optional_params=("bias",))
def linear(node, arrays):
    """Fully connected: ``x Wᵀ + b`` over the last axis (ONNX Gemm with transB, MatMul)."""
    x, w = arrays[0], node.params["weight"]
    # one 2-d product over every leading axis (a stacked matmul can miss BLAS)
    y = np.matmul(x.reshape(-1, x.shape[-1]), w.T).reshape(*x.shape[:-1], w.shape[0])
    if "bias" in node.params:
        y = y + node.params["bias"]
    return [y.astype(x.dtype, copy=False)]


def _matmul_shape(node, ins):
    a, b = ins[0].shape, ins[1].shape
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        raise ValueError(f"matmul of {a} and {b}: inner dimensions differ")
    batch = np.broadcast_shapes(a[:-2], b[:-2])
    return [(*batch, a[-2], b[-1])]


def _matmul_kind(node, ins):
    return [dot(ins[0].kind, ins[1].kind, ins[0].shape[-1])] if ins[0].shape else [ANALOG]


def _matmul_flops(node, ins, outs):
    return prod(outs[0].shape) * ins[0].shape[-1]


@op("matmul", arity=2, shape=_matmul_shape, kind=_matmul_kind, flops=_matmul_flops)
def matmul(node, arrays):
    """Product of two dynamic tensors (attention: Q Kᵀ, (Q Kᵀ) V); no weights.

    spike @ spike over inner dimension d is count(d) (Spikformer's SSA)."""
    a, b = arrays
    # align the per-sample batch ranks behind the leading batch axis
    rank = max(a.ndim, b.ndim)
    a = a.reshape(a.shape[0], *([1] * (rank - a.ndim)), *a.shape[1:])
    b = b.reshape(b.shape[0], *([1] * (rank - b.ndim)), *b.shape[1:])
    return [np.matmul(a, b)]
