"""Converters for elementwise ONNX ops: arithmetic, activations, casts, selection."""

from __future__ import annotations

from onnx import helper

from snnc.onnx.importer.context import Context, converter

_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max", "Min": "min",
           "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
           "GreaterOrEqual": "greater_equal", "And": "and", "Or": "or", "Xor": "xor"}
_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
          "Neg": "neg", "Abs": "abs", "Reciprocal": "reciprocal", "Erf": "erf", "Identity": "identity",
          "HardSwish": "hard_swish", "Not": "not", "IsNaN": "is_nan",
          "Floor": "floor", "Ceil": "ceil", "Round": "round", "Sign": "sign"}


def _broadcast(ctx: Context, op: str, tensors: list[str], attrs=None) -> str:
    layout = ctx.layout(ctx.node.output[0])
    return ctx.emit(op, [ctx.operand(t, layout) for t in tensors], attrs=attrs)


@converter(*_BINARY)
def binary(ctx: Context, node) -> None:
    if len(node.input) == 1:                    # Max/Min of one input
        ctx.emit("identity", [ctx.value(node.input[0])])
    elif len(node.input) == 2:
        _broadcast(ctx, _BINARY[node.op_type], list(node.input))
    else:
        raise ctx.fail(f"{node.op_type} with {len(node.input)} inputs is not supported; chain two-input ops")


@converter(*_UNARY)
def unary(ctx: Context, node) -> None:
    ctx.emit(_UNARY[node.op_type], [ctx.value(node.input[0])])


@converter("Dropout")
def dropout(ctx: Context, node) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise ctx.fail("the dropout mask output is not supported at inference")
    ctx.emit("dropout", [ctx.value(node.input[0])], attrs={"ratio": float(ctx.attr("ratio", 0.5))})


@converter("Gelu")
def gelu(ctx: Context, node) -> None:
    ctx.emit("gelu", [ctx.value(node.input[0])], attrs={"approximate": ctx.attr("approximate", "none")})


@converter("HardSigmoid")
def hard_sigmoid(ctx: Context, node) -> None:
    ctx.emit("hard_sigmoid", [ctx.value(node.input[0])],
             attrs={"alpha": float(ctx.attr("alpha", 0.2)), "beta": float(ctx.attr("beta", 0.5))})


@converter("Cast")
def cast(ctx: Context, node) -> None:
    to = str(helper.tensor_dtype_to_np_dtype(ctx.attr("to")))
    ctx.emit("cast", [ctx.value(node.input[0])], attrs={"to": to})


@converter("CastLike")
def cast_like(ctx: Context, node) -> None:
    to = str(helper.tensor_dtype_to_np_dtype(ctx.probes[0].dtypes[node.input[1]]))
    ctx.emit("cast", [ctx.value(node.input[0])], attrs={"to": to})


@converter("Clip")
def clip(ctx: Context, node) -> None:
    lo = ctx.attr("min")
    hi = ctx.attr("max")
    if len(node.input) > 1 and node.input[1]:
        lo = float(ctx.const(node.input[1]))
    if len(node.input) > 2 and node.input[2]:
        hi = float(ctx.const(node.input[2]))
    attrs = {k: float(v) for k, v in (("min", lo), ("max", hi)) if v is not None}
    ctx.emit("clip", [ctx.value(node.input[0])], attrs=attrs)


@converter("Softmax")
def softmax(ctx: Context, node) -> None:
    x = node.input[0]
    axis = ctx.sample_axis(x, ctx.attr("axis", -1 if ctx.opset >= 13 else 1))
    if ctx.opset < 13 and axis != len(ctx.layout(x).sample) - 1:
        raise ctx.fail("Softmax before opset 13 flattens from its axis; only the last axis is supported")
    ctx.emit("softmax", [ctx.value(x)], attrs={"axis": axis})


@converter("CumSum")
def cumsum(ctx: Context, node) -> None:
    x, axis = node.input
    ctx.emit("cumsum", [ctx.value(x)], attrs={"axis": ctx.sample_axis(x, int(ctx.const(axis))),
                                              "exclusive": ctx.attr("exclusive", 0),
                                              "reverse": ctx.attr("reverse", 0)})


@converter("Where")
def where(ctx: Context, node) -> None:
    _broadcast(ctx, "where", list(node.input))

