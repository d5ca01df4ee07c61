"""Converters for the layers of a network: convolutions, matrix products, normalisation,
pooling. Each reads its weights from constant inputs into the IR node's params."""

from __future__ import annotations

import numpy as np

from snnc.onnx.importer.context import Context, converter


def _one_batch_axis(ctx: Context, tensor: str, merged_ok: bool = False) -> None:
    """Convolutions, pooling and BN read ``[B, C, ...]``: one leading batch axis of its
    own. A row-wise op (Gemm) also takes rows merged with the batch (``[N*L, C]``)."""
    layout = ctx.layout(tensor)
    if layout.n_batch != 1 or layout.pos != 0 or (layout.merged and not merged_ok):
        raise ctx.fail(f"it reads {tensor!r} laid out as {layout.describe()}; it needs one leading "
                       "batch axis: fold time into the batch first (x.flatten(0, 1))")


def _explicit_pads(ctx: Context, tensor: str, kernel, strides, dilations) -> list[int]:
    """ONNX ``pads``, resolving ``auto_pad`` (SAME_UPPER/SAME_LOWER/VALID) on the probe shape."""
    auto = ctx.attr("auto_pad", "NOTSET")
    spatial = len(kernel)
    if auto in ("NOTSET", ""):
        return list(ctx.attr("pads", [0] * 2 * spatial))
    if auto == "VALID":
        return [0] * 2 * spatial
    size = ctx.layout(tensor).sample[1:]
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, strides, dilations):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin + end


def _geometry(ctx: Context, tensor: str, kernel) -> dict:
    spatial = len(kernel)
    strides = list(ctx.attr("strides", [1] * spatial))
    dilations = list(ctx.attr("dilations", [1] * spatial))
    return {"strides": strides, "pads": _explicit_pads(ctx, tensor, kernel, strides, dilations),
            "dilations": dilations}


def _bias(ctx: Context, node, params: dict) -> dict:
    """Add the bias input to ``params``, unless it is all zeros: the dynamo exporter writes
    a computed zero bias for ``bias=False`` convolutions, and x + 0 is x exactly."""
    if len(node.input) > 2 and node.input[2]:
        bias = ctx.const(node.input[2])
        if np.any(bias):
            params["bias"] = bias
    return params


@converter("Conv")
def conv(ctx: Context, node) -> None:
    x = node.input[0]
    _one_batch_axis(ctx, x)
    weight = ctx.const(node.input[1])
    params = _bias(ctx, node, {"weight": weight})
    attrs = {**_geometry(ctx, x, weight.shape[2:]), "group": int(ctx.attr("group", 1))}
    ctx.emit("conv", [ctx.value(x)], attrs=attrs, params=params)


@converter("ConvTranspose")
def conv_transpose(ctx: Context, node) -> None:
    x = node.input[0]
    _one_batch_axis(ctx, x)
    if ctx.attr("output_shape") is not None and ctx.attr("pads") is None:
        raise ctx.fail("ConvTranspose with output_shape is not supported; export with explicit pads")
    weight = ctx.const(node.input[1])
    params = _bias(ctx, node, {"weight": weight})
    spatial = weight.ndim - 2
    if ctx.attr("auto_pad", "NOTSET") not in ("NOTSET", "", "VALID"):
        raise ctx.fail("ConvTranspose with auto_pad SAME is not supported; export with explicit pads")
    attrs = {"strides": list(ctx.attr("strides", [1] * spatial)),
             "pads": list(ctx.attr("pads", [0] * 2 * spatial)),
             "dilations": list(ctx.attr("dilations", [1] * spatial)),
             "group": int(ctx.attr("group", 1)),
             "output_padding": list(ctx.attr("output_padding", [0] * spatial))}
    ctx.emit("conv_transpose", [ctx.value(x)], attrs=attrs, params=params)


@converter("Gemm")
def gemm(ctx: Context, node) -> None:
    a, b = node.input[0], node.input[1]
    if ctx.attr("transA", 0):
        raise ctx.fail("Gemm with transA=1 is not supported")
    if not ctx.is_data(a) or ctx.is_data(b):
        raise ctx.fail("only Gemm of the network's values by constant weights is supported")
    _one_batch_axis(ctx, a, merged_ok=True)
    weight = ctx.const(b)
    weight = weight if ctx.attr("transB", 0) else weight.T
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    params = {"weight": weight if alpha == 1.0 else (weight * np.float32(alpha)).astype(weight.dtype)}
    if len(node.input) > 2 and node.input[2]:
        c = ctx.const(node.input[2])
        if c.size not in (1, weight.shape[0]):
            raise ctx.fail(f"Gemm bias of shape {list(c.shape)} is not per output feature")
        bias = np.broadcast_to(c.reshape(-1), (weight.shape[0],)).astype(weight.dtype)
        params["bias"] = bias if beta == 1.0 else (bias * np.float32(beta)).astype(weight.dtype)
    ctx.emit("linear", [ctx.value(a)], params={k: np.ascontiguousarray(v) for k, v in params.items()})


@converter("MatMul")
def matmul(ctx: Context, node) -> None:
    a, b = node.input
    if ctx.is_data(a) and ctx.is_data(b):
        ctx.emit("matmul", [ctx.value(a), ctx.value(b)])
    elif ctx.is_data(a):
        weight = ctx.const(b)
        if weight.ndim != 2:
            raise ctx.fail(f"MatMul by a constant of shape {list(weight.shape)}: only 2-D weights are supported")
        ctx.emit("linear", [ctx.value(a)], params={"weight": np.ascontiguousarray(weight.T)})
    else:
        # W @ x = (xᵀ @ Wᵀ)ᵀ: the per-sample matrix x [..., K, P] turned so W acts as a
        # linear layer on its K axis, then turned back
        weight, value = ctx.const(a), ctx.value(b)
        rank = len(ctx.graph.values[value].shape)
        if weight.ndim != 2 or rank < 2:
            raise ctx.fail(f"MatMul of a constant of shape {list(weight.shape)} by the network's values: only a "
                           "2-D constant times per-sample matrices (rank >= 2 besides the batch) is supported")
        perm = [*range(rank - 2), rank - 1, rank - 2]
        turned = ctx.emit("transpose", [value], attrs={"perm": perm}, output="", suffix=":in")
        dense = ctx.emit("linear", [turned], params={"weight": np.ascontiguousarray(weight)}, output="",
                         suffix=":linear")
        ctx.emit("transpose", [dense], attrs={"perm": perm})


@converter("BatchNormalization")
def batchnorm(ctx: Context, node) -> None:
    x = node.input[0]
    if ctx.attr("training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise ctx.fail("BatchNormalization in training mode; export the model in eval() mode")
    layout = ctx.layout(x)
    rows = layout.merged == "major" and layout.pos == 0 and layout.full_rank >= 2
    _one_batch_axis(ctx, x, merged_ok=rows)
    scale, bias, mean, var = (ctx.const(t) for t in node.input[1:5])
    attrs, params = {"epsilon": float(ctx.attr("epsilon", 1e-5))}, {"scale": scale, "bias": bias, "mean": mean,
                                                                     "var": var}
    if not rows:
        ctx.emit("batchnorm", [ctx.value(x)], attrs=attrs, params=params)
        return
    # BatchNorm1d over tokens merged into the batch (timm LeViT: bn(x.flatten(0, 1)), [N*L, C]):
    # per sample [L, C, ...], channels second; the IR's batchnorm reads them first
    perm = [1, 0] + list(range(2, len(layout.sample)))
    turned = ctx.emit("transpose", [ctx.value(x)], attrs={"perm": perm}, output="", suffix=":to_channels")
    normed = ctx.emit("batchnorm", [turned], attrs=attrs, params=params, output="", suffix=":bn")
    ctx.emit("transpose", [normed], attrs={"perm": perm})


@converter("LayerNormalization")
def layernorm(ctx: Context, node) -> None:
    x = node.input[0]
    if len([o for o in node.output if o]) > 1:
        raise ctx.fail("LayerNormalization's mean/inv-std outputs are not supported")
    axis = ctx.sample_axis(x, ctx.attr("axis", -1))
    params = {"scale": ctx.const(node.input[1])}
    if len(node.input) > 2 and node.input[2]:
        params["bias"] = ctx.const(node.input[2])
    ctx.emit("layernorm", [ctx.value(x)], attrs={"axis": axis, "epsilon": float(ctx.attr("epsilon", 1e-5))},
             params=params)


def _pool(ctx: Context, node, op: str, extra: dict) -> None:
    x = node.input[0]
    if len([o for o in node.output if o]) > 1:
        raise ctx.fail("MaxPool's indices output is not supported")
    _one_batch_axis(ctx, x)
    kernel = list(ctx.attr("kernel_shape"))
    attrs = {"kernel_shape": kernel, **_geometry(ctx, x, kernel), "ceil_mode": int(ctx.attr("ceil_mode", 0)),
             **extra}
    if ctx.attr("storage_order", 0):
        raise ctx.fail("MaxPool with storage_order=1 is not supported")
    ctx.emit(op, [ctx.value(x)], attrs=attrs)


@converter("MaxPool")
def maxpool(ctx: Context, node) -> None:
    _pool(ctx, node, "maxpool", {})


@converter("AveragePool")
def avgpool(ctx: Context, node) -> None:
    _pool(ctx, node, "avgpool", {"count_include_pad": int(ctx.attr("count_include_pad", 0))})


@converter("GlobalAveragePool")
def global_avgpool(ctx: Context, node) -> None:
    _one_batch_axis(ctx, node.input[0])
    ctx.emit("global_avgpool", [ctx.value(node.input[0])])


@converter("GlobalMaxPool")
def global_maxpool(ctx: Context, node) -> None:
    x = node.input[0]
    _one_batch_axis(ctx, x)
    spatial = list(range(1, len(ctx.layout(x).sample)))
    ctx.emit("reduce_max", [ctx.value(x)], attrs={"axes": spatial, "keepdims": 1})
