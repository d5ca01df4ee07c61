"""One ONNX lowering per IR op: the table :data:`LOWERINGS` (op -> function).

Each function reads its IR node and appends standard ONNX nodes (opset 18) through a
:class:`~snnc.onnx.lowering.Lowering`: ``lw.arg(v)`` is an input in the layout a
stateless op reads (``[T*N, ...]``, ``[N, ...]`` or a constant), ``lw.tensor(v, "TN")``
the ``[T, N, ...]`` form neurons and time ops read, ``lw.emit(...)`` writes the node's
output. Per-sample axes ``a`` become ONNX axes ``a + 1`` (after the folded batch).
Ops onnx 18 lacks are written in ops it has: ``gelu`` as its erf (or tanh) formula.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import AttributeProto, helper

from snnc.ir.errors import UnsupportedError
from snnc.ir.graph import Node
from snnc.ir.ops.common import norm_axis
from snnc.ir.ops.pool_norm import pool_geometry
from snnc.ir.ops.synaptic import conv_geometry
from snnc.ir.registry import get as get_op
from snnc.onnx import dialect
from snnc.onnx.lowering import Lowering

LOWERINGS = {}


def lowering(*ops: str):
    def register(fn):
        for op in ops:
            LOWERINGS[op] = fn
        return fn
    return register


def _scalar(lw: Lowering, value: float, dtype: str, base: str) -> str:
    return lw.init(np.asarray(value, dtype=dtype), base)


def _rank(lw: Lowering, value: str) -> int:
    return len(lw.value(value).shape)


@lowering("constant")
def constant(lw: Lowering, node: Node) -> None:
    """An initializer, written where an op first reads it."""
    lw.consts[node.outputs[0]] = np.asarray(node.params["value"])


# -- neurons and time ------------------------------------------------------------------
#: ONNX attribute type -> how an IR attribute value is written (attribute types must match exactly)
_AS_ONNX = {AttributeProto.FLOAT: float, AttributeProto.INT: int,
            AttributeProto.FLOATS: lambda vs: [float(v) for v in vs],
            AttributeProto.INTS: lambda vs: [int(v) for v in vs]}


@lowering("lif", "if", "leaky", "synaptic", "lif_box", "lif_current", "sj_lif", "sinabs_lif",
          "multi_threshold", "cum_mean", "delta", "spiking_matmul")
def timed_snnc_op(lw: Lowering, node: Node) -> None:
    """One ``snnc::`` node (a neuron, or ECMT's :mod:`snnc.onnx.dialect_conversion` ops) over
    ``[T, N, ...]`` inputs, every attribute of its schema written."""
    schema = dialect.SCHEMAS[dialect.ONNX_OPS[node.op]]
    if any(node.attrs[a] for a in dialect.PROGRAM_ONLY if a in get_op(node.op).attrs):   # only ops that declare it
        raise UnsupportedError(f"node {node.name!r}: a {node.op} whose clock starts late (start="
                               f"{node.attrs['start']}) belongs to a Loihi program; export the float graph")
    attrs = {name: _AS_ONNX[kind](node.attrs[name]) for name, kind in schema.attributes.items()}
    lw.emit(node, schema.name, [lw.tensor(v, "TN") for v in node.inputs], layout="TN", domain=dialect.DOMAIN,
            **attrs)


@lowering("si_exp")
def si_exp(lw: Lowering, node: Node) -> None:
    """``snnc::SIExp`` (:mod:`snnc.onnx.dialect_sit`): stateless, on the folded batch."""
    lw.emit(node, "SIExp", [lw.arg(node.inputs[0])], domain=dialect.DOMAIN, K=int(node.attrs["K"]),
            **{k: [float(v) for v in node.attrs[k]] for k in ("T", "h", "d")})


@lowering("si_norm")
def si_norm(lw: Lowering, node: Node) -> None:
    axis = norm_axis(node.attrs["axis"], _rank(lw, node.inputs[0])) + 1
    lw.emit(node, "SINorm", [lw.arg(node.inputs[0])], domain=dialect.DOMAIN, axis=axis,
            n_spike=float(node.attrs["n_spike"]))


@lowering("repeat_time")
def repeat_time(lw: Lowering, node: Node) -> None:
    """``[N, ...] -> [1, N, ...] -> Expand -> [T, N, ...]`` (the importer's repeat pattern)."""
    x = lw.unsqueeze(lw.tensor(node.inputs[0], "N"), [0])
    reps = lw.ints([node.attrs["timesteps"]] + [1] * (1 + _rank(lw, node.inputs[0])))
    lw.emit(node, "Expand", [x, reps], layout="TN")


@lowering("mean_time", "sum_time")
def reduce_time(lw: Lowering, node: Node) -> None:
    op_type = "ReduceMean" if node.op == "mean_time" else "ReduceSum"
    lw.emit(node, op_type, [lw.tensor(node.inputs[0], "TN"), lw.ints([0], "axes")], layout="N", keepdims=0)


@lowering("select_time")
def select_time(lw: Lowering, node: Node) -> None:
    index = lw.init(np.asarray(node.attrs["index"], dtype=np.int64), "index")
    lw.emit(node, "Gather", [lw.tensor(node.inputs[0], "TN"), index], layout="N", axis=0)


# -- synaptic layers ---------------------------------------------------------------------
def _weights(lw: Lowering, node: Node, weight: np.ndarray) -> list[str]:
    ins = [lw.init(weight, f"{node.name}.weight")]
    if "bias" in node.params:
        ins.append(lw.init(node.params["bias"], f"{node.name}.bias"))
    return ins


@lowering("conv", "conv_transpose")
def conv(lw: Lowering, node: Node) -> None:
    w = node.params["weight"]
    strides, pads, dilations = conv_geometry(node, w.ndim - 2)
    attrs = dict(kernel_shape=list(w.shape[2:]), strides=list(strides), pads=list(pads),
                 dilations=list(dilations), group=int(node.attrs["group"]))
    if node.op == "conv_transpose":
        attrs["output_padding"] = list(node.attrs["output_padding"] or [0] * (w.ndim - 2))
    op_type = "Conv" if node.op == "conv" else "ConvTranspose"
    lw.emit(node, op_type, [lw.arg(node.inputs[0]), *_weights(lw, node, w)], **attrs)


@lowering("linear")
def linear(lw: Lowering, node: Node) -> None:
    """Gemm (transB) on ``[B, I]``; MatMul by Wᵀ, then Add of the bias, on higher ranks."""
    x = lw.arg(node.inputs[0])
    w = node.params["weight"]
    if _rank(lw, node.inputs[0]) == 1:
        lw.emit(node, "Gemm", [x, *_weights(lw, node, w)], transB=1)
    elif "bias" not in node.params:
        lw.emit(node, "MatMul", [x, lw.init(np.ascontiguousarray(w.T), f"{node.name}.weight")])
    else:
        y = lw.add("MatMul", [x, lw.init(np.ascontiguousarray(w.T), f"{node.name}.weight")])
        lw.emit(node, "Add", [y, lw.init(node.params["bias"], f"{node.name}.bias")])


@lowering("matmul")
def matmul(lw: Lowering, node: Node) -> None:
    rank = max(_rank(lw, v) for v in node.inputs)
    args, layout = lw.broadcast_args(node, rank)
    lw.emit(node, "MatMul", args, layout=layout)


# -- normalisation and pooling -------------------------------------------------------------
@lowering("batchnorm")
def batchnorm(lw: Lowering, node: Node) -> None:
    params = [lw.init(node.params[k], f"{node.name}.{k}") for k in ("scale", "bias", "mean", "var")]
    lw.emit(node, "BatchNormalization", [lw.arg(node.inputs[0]), *params],
            epsilon=float(node.attrs["epsilon"]))


@lowering("layernorm")
def layernorm(lw: Lowering, node: Node) -> None:
    ins = [lw.arg(node.inputs[0]), lw.init(node.params["scale"], f"{node.name}.weight")]
    if "bias" in node.params:
        ins.append(lw.init(node.params["bias"], f"{node.name}.bias"))
    axis = norm_axis(node.attrs["axis"], _rank(lw, node.inputs[0])) + 1
    lw.emit(node, "LayerNormalization", ins, axis=axis, epsilon=float(node.attrs["epsilon"]))


@lowering("softmax")
def softmax(lw: Lowering, node: Node) -> None:
    axis = norm_axis(node.attrs["axis"], _rank(lw, node.inputs[0])) + 1
    lw.emit(node, "Softmax", [lw.arg(node.inputs[0])], axis=axis)


@lowering("cumsum")
def cumsum(lw: Lowering, node: Node) -> None:
    axis = norm_axis(node.attrs["axis"], _rank(lw, node.inputs[0])) + 1
    lw.emit(node, "CumSum", [lw.arg(node.inputs[0]), lw.init(np.array(axis, np.int64), f"{node.name}.axis")],
            exclusive=int(node.attrs["exclusive"]), reverse=int(node.attrs["reverse"]))


@lowering("maxpool", "avgpool")
def pool(lw: Lowering, node: Node) -> None:
    kernel, strides, pads, dilations = pool_geometry(node, len(node.attrs["kernel_shape"]))
    attrs = dict(kernel_shape=list(kernel), strides=list(strides), pads=list(pads),
                 ceil_mode=int(node.attrs["ceil_mode"]))
    if node.op == "maxpool":
        lw.emit(node, "MaxPool", [lw.arg(node.inputs[0])], dilations=list(dilations), **attrs)
        return
    if any(d != 1 for d in dilations):
        raise UnsupportedError(f"node {node.name!r}: a dilated average pool needs ONNX opset 19; "
                               "snnc writes opset 18")
    lw.emit(node, "AveragePool", [lw.arg(node.inputs[0])],
            count_include_pad=int(node.attrs["count_include_pad"]), **attrs)


@lowering("global_avgpool")
def global_avgpool(lw: Lowering, node: Node) -> None:
    lw.emit(node, "GlobalAveragePool", [lw.arg(node.inputs[0])])


# -- elementwise --------------------------------------------------------------------------
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "max": "Max", "min": "Min",
           "equal": "Equal", "less": "Less", "greater": "Greater", "less_equal": "LessOrEqual",
           "greater_equal": "GreaterOrEqual", "and": "And", "or": "Or", "xor": "Xor"}
_UNARY = {"relu": "Relu", "neg": "Neg", "abs": "Abs", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp",
          "log": "Log", "sqrt": "Sqrt", "reciprocal": "Reciprocal", "erf": "Erf", "identity": "Identity",
          "hard_swish": "HardSwish", "not": "Not", "is_nan": "IsNaN",
          "floor": "Floor", "ceil": "Ceil", "round": "Round", "sign": "Sign"}


@lowering(*_BINARY)
def binary(lw: Lowering, node: Node) -> None:
    args, layout = lw.broadcast_args(node, _rank(lw, node.outputs[0]))
    lw.emit(node, _BINARY[node.op], args, layout=layout)


@lowering("where")
def where(lw: Lowering, node: Node) -> None:
    args, layout = lw.broadcast_args(node, _rank(lw, node.outputs[0]))
    if lw.value(node.inputs[0]).dtype != "bool":
        args[0] = lw.add("Cast", [args[0]], to=helper.np_dtype_to_tensor_dtype(np.dtype(bool)))
    lw.emit(node, "Where", args, layout=layout)


@lowering(*_UNARY)
def unary(lw: Lowering, node: Node) -> None:
    lw.emit(node, _UNARY[node.op], [lw.arg(node.inputs[0])])


@lowering("hard_sigmoid")
def hard_sigmoid(lw: Lowering, node: Node) -> None:
    lw.emit(node, "HardSigmoid", [lw.arg(node.inputs[0])], alpha=float(node.attrs["alpha"]),
            beta=float(node.attrs["beta"]))


@lowering("dropout")
def dropout(lw: Lowering, node: Node) -> None:
    """Inference Dropout (``training_mode`` absent: the identity)."""
    ratio = _scalar(lw, float(node.attrs["ratio"]), "float32", "ratio")
    lw.emit(node, "Dropout", [lw.arg(node.inputs[0]), ratio])


@lowering("cast")
def cast(lw: Lowering, node: Node) -> None:
    lw.emit(node, "Cast", [lw.arg(node.inputs[0])], to=helper.np_dtype_to_tensor_dtype(np.dtype(node.attrs["to"])))


@lowering("clip")
def clip(lw: Lowering, node: Node) -> None:
    dtype = lw.value(node.inputs[0]).dtype
    bounds = [_scalar(lw, node.attrs[k], dtype, k) if node.attrs[k] is not None else "" for k in ("min", "max")]
    while bounds and not bounds[-1]:
        bounds.pop()
    lw.emit(node, "Clip", [lw.arg(node.inputs[0]), *bounds])


@lowering("gelu")
def gelu(lw: Lowering, node: Node) -> None:
    """x·Φ(x) = 0.5·x·(1 + erf(x/√2)); approximate='tanh': 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    x = lw.arg(node.inputs[0])
    dtype = lw.value(node.inputs[0]).dtype
    one = _scalar(lw, 1.0, dtype, "one")
    if node.attrs["approximate"] == "tanh":
        cube = lw.add("Pow", [x, _scalar(lw, 3.0, dtype, "three")])
        inner = lw.add("Add", [x, lw.add("Mul", [cube, _scalar(lw, 0.044715, dtype, "gelu_c")])])
        core = lw.add("Tanh", [lw.add("Mul", [inner, _scalar(lw, math.sqrt(2 / math.pi), dtype, "sqrt_2_pi")])])
    else:
        core = lw.add("Erf", [lw.add("Div", [x, _scalar(lw, math.sqrt(2.0), dtype, "sqrt2")])])
    lw.emit(node, "Mul", [lw.add("Mul", [x, lw.add("Add", [core, one])]), _scalar(lw, 0.5, dtype, "half")])


# -- moving values -------------------------------------------------------------------------
@lowering("reshape")
def reshape(lw: Lowering, node: Node) -> None:
    lw.emit(node, "Reshape", [lw.arg(node.inputs[0]), lw.ints([-1, *node.attrs["shape"]])])


@lowering("transpose")
def transpose(lw: Lowering, node: Node) -> None:
    lw.emit(node, "Transpose", [lw.arg(node.inputs[0])], perm=[0] + [p + 1 for p in node.attrs["perm"]])


@lowering("concat")
def concat(lw: Lowering, node: Node) -> None:
    """Concat does not broadcast: per-sample inputs are expanded over T, constants over the batch."""
    values = [lw.value(v) for v in node.inputs]
    axes = {v.axes for v in values if v.axes}
    mixed = axes == {"TN", "N"}
    lead, layout = (2, "TN") if mixed else (1, "B" if "TN" in axes else "N")
    tensors = []
    for v in values:
        if v.axes == "":
            tensors.append(None)
        elif mixed and not v.timed:
            ones = lw.ints([1] * (1 + len(v.shape)))
            steps = lw.add("Concat", [lw.t_shape(), ones], axis=0)
            tensors.append(lw.add("Expand", [lw.unsqueeze(lw.tensor(v.name, "N"), [0]), steps]))
        else:
            tensors.append(lw.tensor(v.name, layout))
    ref = next(t for t in tensors if t is not None)
    for i, v in enumerate(values):
        if tensors[i] is None:
            batch = lw.add("Shape", [ref], start=0, end=lead)
            shape = lw.add("Concat", [batch, lw.ints(v.shape)], axis=0)
            source = lw.graph.producer(v.name).source
            out = lw.fresh(source or f"{v.name}.expand")        # the tensor a re-import names it by
            tensors[i] = lw.add("Expand", [lw.tensor(v.name, "C"), shape], out=out)
    axis = norm_axis(node.attrs["axis"], len(values[0].shape)) + lead
    lw.emit(node, "Concat", tensors, layout=layout, axis=axis)


@lowering("slice")
def slice_(lw: Lowering, node: Node) -> None:
    """Python slice semantics made explicit: a negative step's end 'before 0' is -(n+1)."""
    shape = lw.value(node.inputs[0]).shape
    axes = node.attrs["axes"] or list(range(len(node.attrs["starts"])))
    steps = node.attrs["steps"] or [1] * len(axes)
    starts, ends, onnx_axes = [], [], []
    for start, end, axis, step in zip(node.attrs["starts"], node.attrs["ends"], axes, steps):
        axis = norm_axis(axis, len(shape))
        lo, hi, st = slice(start, end, step).indices(shape[axis])
        starts.append(lo)
        ends.append(hi if hi >= 0 else -shape[axis] - 1)
        onnx_axes.append(axis + 1)
    ins = [lw.arg(node.inputs[0]), lw.ints(starts, "starts"), lw.ints(ends, "ends"), lw.ints(onnx_axes, "axes"),
           lw.ints(steps, "steps")]
    lw.emit(node, "Slice", ins)


@lowering("gather")
def gather(lw: Lowering, node: Node) -> None:
    axis = norm_axis(node.attrs["axis"], _rank(lw, node.inputs[0])) + 1
    indices = lw.init(np.asarray(node.params["indices"], dtype=np.int64), f"{node.name}.indices")
    lw.emit(node, "Gather", [lw.arg(node.inputs[0]), indices], axis=axis)


@lowering("embedding")
def embedding(lw: Lowering, node: Node) -> None:
    table = lw.init(np.asarray(node.params["weight"]), f"{node.name}.weight")
    lw.emit(node, "Gather", [table, lw.arg(node.inputs[0])], axis=0)


@lowering("pad")
def pad(lw: Lowering, node: Node) -> None:
    mode = node.attrs["mode"]
    if mode not in ("constant", "reflect", "edge"):
        raise UnsupportedError(f"node {node.name!r}: pad mode {mode!r} needs ONNX opset 19; snnc writes opset 18")
    pads = list(node.attrs["pads"])
    rank = len(pads) // 2
    full = [0, *pads[:rank], 0, *pads[rank:]]
    dtype = lw.value(node.inputs[0]).dtype
    ins = [lw.arg(node.inputs[0]), lw.ints(full, "pads"), _scalar(lw, node.attrs["value"], dtype, "pad_value")]
    lw.emit(node, "Pad", ins, mode=mode)


@lowering("expand")
def expand(lw: Lowering, node: Node) -> None:
    out = lw.value(node.outputs[0]).shape
    x = lw.unsqueeze(lw.arg(node.inputs[0]), list(range(1, 1 + len(out) - _rank(lw, node.inputs[0]))))
    lw.emit(node, "Expand", [x, lw.ints([1, *out])])


@lowering("tile")
def tile(lw: Lowering, node: Node) -> None:
    lw.emit(node, "Tile", [lw.arg(node.inputs[0]), lw.ints([1, *node.attrs["repeats"]], "repeats")])


@lowering("resize")
def resize(lw: Lowering, node: Node) -> None:
    scales = lw.init(np.asarray([1.0, *node.attrs["scales"]], dtype=np.float32), "scales")
    lw.emit(node, "Resize", [lw.arg(node.inputs[0]), "", scales], mode=node.attrs["mode"],
            coordinate_transformation_mode=node.attrs["coordinate_transformation_mode"],
            nearest_mode=node.attrs["nearest_mode"])


_REDUCE = {"reduce_mean": "ReduceMean", "reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_l2": "ReduceL2"}


@lowering(*_REDUCE)
def reduce(lw: Lowering, node: Node) -> None:
    rank = _rank(lw, node.inputs[0])
    if rank == 0:                    # nothing per sample to reduce
        lw.emit(node, "Identity", [lw.arg(node.inputs[0])])
        return
    axes = node.attrs["axes"] or range(rank)
    onnx_axes = sorted(norm_axis(a, rank) + 1 for a in axes)
    lw.emit(node, _REDUCE[node.op], [lw.arg(node.inputs[0]), lw.ints(onnx_axes, "axes")],
            keepdims=int(node.attrs["keepdims"]))
