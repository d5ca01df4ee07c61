"""Convolutions, pooling, normalisation and the shape ops, per op, against onnxruntime over
random shapes, attributes and values (hypothesis). Each case is a one-node ONNX model
written with ``onnx.helper``; snnc imports it and runs it in its interpreter and its
simulator (:func:`property_models.compare`). The ONNX spec, as onnxruntime executes it,
is the reference; nothing here is computed by snnc's own code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from onnx import helper

from property_models import SETTINGS, compare, model, rand, tensor

N = 3       # samples: the simulator runs them in batches of 2 and 1


def _spatial(draw, rank, lo=1, hi=7):
    return [draw(st.integers(lo, hi)) for _ in range(rank)]


def _grouped(draw, cout_per_group: int):
    """A grouped convolution's geometry: rank 1 or 2, groups, in/out channels (multiples of
    the groups), and per spatial axis the kernel, dilation and stride."""
    rank = draw(st.sampled_from([1, 2]))
    group = draw(st.sampled_from([1, 2]))
    cin, cout = group * draw(st.integers(1, 3)), group * draw(st.integers(1, cout_per_group))
    kernel, dil, stride = _spatial(draw, rank, 1, 3), _spatial(draw, rank, 1, 2), _spatial(draw, rank, 1, 3)
    return rank, group, cin, cout, kernel, dil, stride


@SETTINGS
@given(st.data())
def test_conv(data):
    """1-d and 2-d Conv: groups, stride, dilation, asymmetric or automatic padding, bias."""
    draw = data.draw
    rank, group, cin, cout, kernel, dil, stride = _grouped(draw, 3)
    size = [d * (k - 1) + 1 + draw(st.integers(0, 4)) for k, d in zip(kernel, dil)]
    attrs = {"kernel_shape": kernel, "strides": stride, "dilations": dil, "group": group}
    auto = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, k - 1)) for k in kernel * 2]
    else:
        attrs["auto_pad"] = auto
        if auto.startswith("SAME"):
            attrs["dilations"] = dil = [1] * rank      # onnxruntime: SAME with dilation is undefined
    inits = [tensor("w", rand(draw, (cout, cin // group, *kernel)))]
    if draw(st.booleans()):
        inits.append(tensor("b", rand(draw, (cout,))))
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if len(inits) > 1 else []), ["y"], **attrs)
    proto = model([node], {"x": ["N", cin, *size]}, inits=inits)
    x = rand(draw, (N, cin, *size))
    compare(proto, {"x": x}, rtol=1e-4, atol=1e-4, engine=draw(st.sampled_from(["numpy", "torch"])), ops=["conv"])


@SETTINGS
@given(st.data())
def test_conv_transpose(data):
    draw = data.draw
    rank, group, cin, cout, kernel, dil, stride = _grouped(draw, 2)
    size = _spatial(draw, rank, 1, 5)
    pads = [draw(st.integers(0, d * (k - 1))) for k, d in zip(kernel * 2, dil * 2)]
    out_pad = [draw(st.integers(0, s - 1)) for s in stride]     # onnxruntime: < stride
    # ONNX's output size s·(n − 1) + out_pad + d·(k − 1) + 1 − pads must be >= 1: a model
    # with an empty output is invalid (onnxruntime refuses it), not a case to compare
    assume(all(s * (n - 1) + o + d * (k - 1) + 1 - p0 - p1 >= 1 for s, n, o, d, k, p0, p1
               in zip(stride, size, out_pad, dil, kernel, pads[:rank], pads[rank:])))
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=kernel, strides=stride, pads=pads,
                            dilations=dil, group=group, output_padding=out_pad)
    inits = [tensor("w", rand(draw, (cin, cout // group, *kernel))), tensor("b", rand(draw, (cout,)))]
    proto = model([node], {"x": ["N", cin, *size]}, inits=inits)
    compare(proto, {"x": rand(draw, (N, cin, *size))}, rtol=1e-4, atol=1e-4, ops=["conv_transpose"])


def _pool_attrs(draw, rank):
    kernel = _spatial(draw, rank, 1, 3)
    attrs = {"kernel_shape": kernel, "strides": _spatial(draw, rank, 1, 3),
             "pads": [draw(st.integers(0, k // 2)) for k in kernel * 2],    # ONNX: pad < kernel
             "ceil_mode": draw(st.sampled_from([0, 1]))}
    size = [k + draw(st.integers(0, 4)) for k in kernel]
    return attrs, size


@SETTINGS
@given(st.sampled_from(["MaxPool", "AveragePool"]), st.data())
def test_pooling(op, data):
    """MaxPool and AveragePool: stride, padding, ceil_mode, count_include_pad."""
    draw = data.draw
    rank = draw(st.sampled_from([1, 2]))
    attrs, size = _pool_attrs(draw, rank)
    if op == "AveragePool":
        attrs["count_include_pad"] = draw(st.sampled_from([0, 1]))
    c = draw(st.integers(1, 3))
    proto = model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": ["N", c, *size]})
    x = rand(draw, (N, c, *size))
    if op == "MaxPool" and draw(st.booleans()):
        x = (x > 0).astype(np.float32)      # max of spikes stays spikes
    compare(proto, {"x": x}, exact=op == "MaxPool", rtol=1e-5, atol=1e-5,
            ops=["maxpool" if op == "MaxPool" else "avgpool"])


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_ceil_mode_window_starting_in_the_end_padding(op):
    """kernel 1, stride 2, ceil_mode over 2 cells: onnxruntime computes one output (the
    second window would start past the input), onnx's shape inference says two; snnc
    used to trust the latter and refuse the model."""
    proto = model([helper.make_node(op, ["x"], ["y"], kernel_shape=[1], strides=[2], ceil_mode=1)],
                  {"x": ["N", 1, 2]})
    want, _ = compare(proto, {"x": np.arange(6, dtype=np.float32).reshape(3, 1, 2)}, exact=True)
    assert want.shape == (3, 1, 1)


@SETTINGS
@given(st.sampled_from(["GlobalAveragePool", "GlobalMaxPool"]), st.data())
def test_global_pooling(op, data):
    draw = data.draw
    shape = [draw(st.integers(1, 4))] + _spatial(draw, draw(st.integers(1, 3)), 1, 5)
    proto = model([helper.make_node(op, ["x"], ["y"])], {"x": ["N", *shape]})
    compare(proto, {"x": rand(draw, (N, *shape))}, exact=op == "GlobalMaxPool", rtol=1e-5, atol=1e-6,
            ops=["global_avgpool" if op == "GlobalAveragePool" else "reduce_max"])


@SETTINGS
@given(st.data())
def test_batchnorm(data):
    draw = data.draw
    shape = [draw(st.integers(1, 4))] + _spatial(draw, draw(st.integers(0, 2)), 1, 4)
    c = shape[0]
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    var = rng.uniform(0.05, 3.0, c).astype(np.float32)
    inits = [tensor("s", rand(draw, (c,))), tensor("b", rand(draw, (c,))), tensor("m", rand(draw, (c,))),
             tensor("v", var)]
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    proto = model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=eps)],
                  {"x": ["N", *shape]}, inits=inits)
    compare(proto, {"x": rand(draw, (N, *shape))}, rtol=1e-5, atol=1e-5, ops=["batchnorm"])


@SETTINGS
@given(st.data())
def test_layernorm(data):
    """LayerNormalization over the trailing axes from ``axis`` (negative or not), with and
    without a bias."""
    draw = data.draw
    shape = _spatial(draw, draw(st.integers(1, 3)), 1, 5)
    axis = draw(st.integers(1, len(shape)))                  # in the full [N, *shape] rank
    if draw(st.booleans()):
        axis -= len(shape) + 1
    norm = shape[axis - 1 if axis > 0 else axis:]
    inits = [tensor("s", rand(draw, norm))]
    if draw(st.booleans()):
        inits.append(tensor("b", rand(draw, norm)))
    eps = draw(st.sampled_from([1e-5, 1e-2]))
    node = helper.make_node("LayerNormalization", ["x", *[t.name for t in inits]], ["y"], axis=axis, epsilon=eps)
    proto = model([node], {"x": ["N", *shape]}, inits=inits)
    compare(proto, {"x": rand(draw, (N, *shape), loc=1.0)}, rtol=1e-4, atol=1e-4, ops=["layernorm"])


# -- shape ops ------------------------------------------------------------------------
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3)


@SETTINGS
@given(shapes, st.data())
def test_gather(shape, data):
    """Gather at constant indices (scalar, 1-d or 2-d, negative ones too) on a sample axis."""
    draw = data.draw
    axis = draw(st.integers(1, len(shape)))
    n = shape[axis - 1]
    idx_shape = draw(st.sampled_from([(), (2,), (2, 3)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    idx = rng.integers(-n, n, idx_shape).astype(np.int64)
    if draw(st.booleans()):
        axis -= len(shape) + 1
    proto = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=axis)], {"x": ["N", *shape]},
                  inits=[tensor("i", idx)])
    compare(proto, {"x": rand(draw, (N, *shape))}, exact=True, ops=["gather"])


@SETTINGS
@given(shapes, st.data())
def test_slice(shape, data):
    """Slice with starts/ends out of range, negative, and negative steps, on sample axes."""
    draw = data.draw
    axes = draw(st.lists(st.integers(1, len(shape)), min_size=1, max_size=len(shape), unique=True))
    starts, ends, steps = [], [], []
    for a in axes:
        n = shape[a - 1]
        steps.append(draw(st.sampled_from([1, 1, 2, -1, -2])))
        starts.append(draw(st.integers(-n - 2, n + 2)))
        ends.append(draw(st.integers(-n - 2, n + 2)))
    # the output must keep every axis non-empty (snnc has no empty tensors)
    for a, s, e, st_ in zip(axes, starts, ends, steps):
        if not range(*slice(s, e, st_).indices(shape[a - 1])):
            starts[axes.index(a)], ends[axes.index(a)] = (0, shape[a - 1]) if st_ > 0 else (-1, -shape[a - 1] - 1)
    signed = [a - len(shape) - 1 if draw(st.booleans()) else a for a in axes]
    inits = [tensor("s", np.array(starts, np.int64)), tensor("e", np.array(ends, np.int64)),
             tensor("a", np.array(signed, np.int64)), tensor("p", np.array(steps, np.int64))]
    proto = model([helper.make_node("Slice", ["x", "s", "e", "a", "p"], ["y"])], {"x": ["N", *shape]}, inits=inits)
    compare(proto, {"x": rand(draw, (N, *shape))}, exact=True)


@SETTINGS
@given(shapes, st.data())
def test_concat_and_split(shape, data):
    """Concat of two inputs, and Split into drawn sizes, on a sample axis."""
    draw = data.draw
    axis = draw(st.integers(1, len(shape)))
    other = list(shape)
    other[axis - 1] = draw(st.integers(1, 3))
    signed = axis - len(shape) - 1 if draw(st.booleans()) else axis
    proto = model([helper.make_node("Concat", ["x", "z"], ["y"], axis=signed)],
                  {"x": ["N", *shape], "z": ["N", *other]})
    compare(proto, {"x": rand(draw, (N, *shape)), "z": rand(draw, (N, *other))}, exact=True, ops=["concat"])

    total = shape[axis - 1]
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), unique=True, max_size=2))) if total > 1 else []
    sizes = np.diff([0, *cuts, total]).astype(np.int64)
    outs = [f"y{i}" for i in range(len(sizes))]
    node = helper.make_node("Split", ["x", "sizes"], outs, axis=signed)
    proto = model([node], {"x": ["N", *shape]}, inits=[tensor("sizes", sizes)], outputs=outs)
    compare(proto, {"x": rand(draw, (N, *shape))}, exact=True)


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.data())
def test_transpose(shape, data):
    """A Transpose that keeps the batch axis in front and permutes the sample axes."""
    draw = data.draw
    perm = [0] + [p + 1 for p in draw(st.permutations(range(len(shape))))]
    proto = model([helper.make_node("Transpose", ["x"], ["y"], perm=perm)], {"x": ["N", *shape]})
    compare(proto, {"x": rand(draw, (N, *shape))}, exact=True)


@SETTINGS
@given(shapes, st.data())
def test_pad_and_reshape(shape, data):
    """Pad (constant, reflect or edge) on the sample axes, then Flatten of the sample."""
    draw = data.draw
    mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
    hi = [n - 1 if mode == "reflect" else 2 for n in shape]
    pads = [0] + [draw(st.integers(0, h)) for h in hi] + [0] + [draw(st.integers(0, h)) for h in hi]
    inits = [tensor("p", np.array(pads, np.int64)), tensor("c", np.float32(draw(st.sampled_from([0.0, -1.5]))))]
    nodes = [helper.make_node("Pad", ["x", "p", "c"], ["padded"], mode=mode),
             helper.make_node("Flatten", ["padded"], ["y"], axis=1)]
    proto = model(nodes, {"x": ["N", *shape]}, inits=inits)
    compare(proto, {"x": rand(draw, (N, *shape))}, exact=True)
