"""Elementwise ops: arithmetic, activations, selection, and constants.

Binary ops broadcast per-sample shapes like numpy (right-aligned). Their kind rules are
arithmetic on level sets (:mod:`snnc.ir.kinds`): spike + spike = count(2), a spike
times a constant c is graded({0, c}).
"""

from __future__ import annotations

import math

import numpy as np

from snnc.ir import kinds
from snnc.ir.kinds import ANALOG
from snnc.ir.ops.common import align, broadcast_shapes, prod, same_kind, same_shape
from snnc.ir.registry import ELEMENTWISE, NONSPIKE, SPIKE_PRESERVING, Attr, op

def _binary_kind(fn):
    return lambda node, ins: [fn(ins[0].kind, ins[1].kind)]


def _elementwise_flops(node, ins, outs):
    return prod(outs[0].shape)


def _bool_dtype(node, ins):
    return ["bool"]


def _binary(name, fn, kind_fn, traits=(), doc="", boolean=False):
    def run(node, arrays):
        a, b = align(arrays)
        return [fn(a, b)]

    run.__doc__ = doc
    extra = {"dtype": _bool_dtype} if boolean else {}
    op(name, arity=2, shape=broadcast_shapes, kind=_binary_kind(kind_fn),
       flops=_elementwise_flops, traits={ELEMENTWISE, *traits}, **extra)(run)


_binary("add", np.add, kinds.add, doc="a + b. Spike + spike is count(2): the residual of "
        "Spikformer / SEW ResNet (Spikingformer Eq. 3).")
_binary("sub", np.subtract, kinds.sub, doc="a - b.")
_binary("mul", np.multiply, kinds.mul, doc="a * b. A constant scale c maps levels v to c*v.")
_binary("div", np.divide, kinds.div, traits={NONSPIKE}, doc="a / b.")
_binary("pow", np.power, lambda a, b: ANALOG, traits={NONSPIKE}, doc="a ** b.")
_binary("max", np.maximum, lambda a, b: kinds.join(a, b) if a.levels and b.levels else ANALOG,
        doc="elementwise maximum.")
_binary("min", np.minimum, lambda a, b: kinds.join(a, b) if a.levels and b.levels else ANALOG,
        doc="elementwise minimum.")


# comparisons and boolean logic (attention masks): bool values, kind {0, 1}
def _truth(a, b):
    return kinds.SPIKE


_binary("equal", np.equal, _truth, boolean=True, doc="a == b (bool).")
_binary("less", np.less, _truth, boolean=True, doc="a < b (bool).")
_binary("greater", np.greater, _truth, boolean=True, doc="a > b (bool).")
_binary("less_equal", np.less_equal, _truth, boolean=True, doc="a <= b (bool).")
_binary("greater_equal", np.greater_equal, _truth, boolean=True, doc="a >= b (bool).")
_binary("and", np.logical_and, _truth, boolean=True, doc="a and b, on bool values.")
_binary("or", np.logical_or, _truth, boolean=True, doc="a or b, on bool values.")
_binary("xor", np.logical_xor, _truth, boolean=True, doc="a xor b, on bool values.")


def _unary(name, fn, kind_rule, traits=(), attrs=None, doc="", boolean=False):
    def run(node, arrays):
        return [fn(node, arrays[0])]

    run.__doc__ = doc
    extra = {"dtype": _bool_dtype} if boolean else {}
    op(name, arity=1, shape=same_shape, kind=kind_rule, flops=_elementwise_flops,
       traits={ELEMENTWISE, *traits}, attrs=attrs or {}, **extra)(run)


def _analog_kind(node, ins):
    return [ANALOG]


def _mapped_kind(fn):
    return lambda node, ins: [kinds.apply(ins[0].kind, lambda v: float(fn(node, np.float32(v))))]


def _relu(node, x):
    return np.maximum(x, np.zeros((), x.dtype))


def _clip(node, x):
    lo, hi = node.attrs["min"], node.attrs["max"]
    lo = -np.inf if lo is None else lo
    hi = np.inf if hi is None else hi
    return np.clip(x, np.asarray(lo, x.dtype), np.asarray(hi, x.dtype))


def _sigmoid(node, x):
    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


def _erf(node, x):
    return erf(x.astype(np.float64)).astype(x.dtype)


# erfc(z) = t·exp(-z² + P(t)), t = 1/(1 + z/2), z >= 0: Chebyshev fit with fractional
# error < 1.2e-7 everywhere (Press et al., Numerical Recipes, §6.2 "erfcc")
_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
         -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function in float64, vectorised (float32-accurate)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for c in reversed(_ERFC):
        poly = poly * t + c
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def _gelu(node, x):
    if node.attrs["approximate"] == "tanh":
        x64 = x.astype(np.float64)
        return (0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))).astype(x.dtype)
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1 + erf(x64 / math.sqrt(2)))).astype(x.dtype)


def _hard_sigmoid(node, x):
    alpha, beta = node.attrs["alpha"], node.attrs["beta"]
    y = np.asarray(alpha, x.dtype) * x + np.asarray(beta, x.dtype)
    return np.clip(y, np.zeros((), x.dtype), np.ones((), x.dtype))


def _hard_swish(node, x):
    return x * np.clip(x * np.asarray(1 / 6, x.dtype) + np.asarray(0.5, x.dtype), np.zeros((), x.dtype),
                       np.ones((), x.dtype))


_unary("relu", _relu, _mapped_kind(_relu), doc="max(x, 0).")
_unary("neg", lambda n, x: np.negative(x), _mapped_kind(lambda n, x: -x), doc="-x.")
_unary("abs", lambda n, x: np.abs(x), _mapped_kind(lambda n, x: abs(x)), doc="|x|.")
_unary("clip", _clip, _mapped_kind(_clip), attrs={"min": Attr(float, None), "max": Attr(float, None)},
       doc="x clamped to [min, max] (either may be absent).")
_unary("sigmoid", _sigmoid, _analog_kind, traits={NONSPIKE}, doc="1 / (1 + exp(-x)).")
_unary("tanh", lambda n, x: np.tanh(x), _analog_kind, traits={NONSPIKE}, doc="tanh(x).")
_unary("exp", lambda n, x: np.exp(x), _analog_kind, traits={NONSPIKE}, doc="exp(x).")
_unary("log", lambda n, x: np.log(x), _analog_kind, traits={NONSPIKE}, doc="log(x).")
_unary("sqrt", lambda n, x: np.sqrt(x), _analog_kind, traits={NONSPIKE}, doc="sqrt(x).")
_unary("reciprocal", lambda n, x: np.reciprocal(x), _analog_kind, traits={NONSPIKE}, doc="1 / x.")
_unary("erf", _erf, _analog_kind, traits={NONSPIKE}, doc="the error function.")
_unary("gelu", _gelu, _analog_kind, traits={NONSPIKE}, attrs={"approximate": Attr(str, "none")},
       doc="x·Φ(x) (approximate='tanh': the tanh form).")
_unary("hard_sigmoid", _hard_sigmoid, _mapped_kind(_hard_sigmoid),
       attrs={"alpha": Attr(float, 0.2), "beta": Attr(float, 0.5)},
       doc="max(0, min(1, alpha·x + beta)) (MobileNetV3's squeeze-excite gate).")
_unary("hard_swish", _hard_swish, _mapped_kind(_hard_swish), traits={NONSPIKE},
       doc="x·max(0, min(1, x/6 + 1/2)) (MobileNetV3).")
# rounding and sign: the step functions of neurons unrolled into plain ONNX (Sinabs'
# MultiSpike floors V/θ; some surrogates' forward is (sign(x) + 1) / 2)
_unary("floor", lambda n, x: np.floor(x), _mapped_kind(lambda n, x: np.floor(x)), doc="floor(x).")
_unary("ceil", lambda n, x: np.ceil(x), _mapped_kind(lambda n, x: np.ceil(x)), doc="ceil(x).")
_unary("round", lambda n, x: np.round(x), _mapped_kind(lambda n, x: np.round(x)),
       doc="x rounded half to even (ONNX Round, numpy round).")


def _sign_kind(node, ins):
    """sign(x) takes at most the values {-1, 0, 1}, whatever x is."""
    if ins[0].kind.levels is None:
        return [kinds.SIGNED]
    return [kinds.apply(ins[0].kind, lambda v: float(np.sign(v)))]


_unary("sign", lambda n, x: np.sign(x), _sign_kind, doc="sign(x) in {-1, 0, 1}.")
_unary("not", lambda n, x: np.logical_not(x), lambda node, ins: [kinds.SPIKE], boolean=True,
       doc="not x, on bool values.")
# transformers' attention zeroes the rows a full mask turns into NaN: where(isnan(p), 0, p)
_unary("is_nan", lambda n, x: np.isnan(x), lambda node, ins: [kinds.SPIKE], boolean=True,
       doc="x is NaN, as bool.")


def _cast_dtype(node, ins):
    return [node.attrs["to"]]


def _cast_kind(node, ins):
    to = node.attrs["to"]
    if to.startswith(("int", "uint")):
        return [kinds.apply(ins[0].kind, lambda v: float(np.trunc(v)))]
    if to == "bool":
        return [kinds.apply(ins[0].kind, lambda v: float(v != 0))]
    return [ins[0].kind]


@op("cast", arity=1, shape=same_shape, kind=_cast_kind, dtype=_cast_dtype,
    traits={ELEMENTWISE, SPIKE_PRESERVING}, attrs={"to": Attr(str)})
def cast(node, arrays):
    """Change the element type (``to``: a numpy dtype name)."""
    return [arrays[0].astype(node.attrs["to"])]


@op("identity", arity=1, shape=same_shape, kind=same_kind, traits={ELEMENTWISE, SPIKE_PRESERVING})
def identity(node, arrays):
    """x, unchanged."""
    return [arrays[0]]


@op("dropout", arity=1, shape=same_shape, kind=same_kind, traits={ELEMENTWISE, SPIKE_PRESERVING},
    attrs={"ratio": Attr(float, 0.5)})
def dropout(node, arrays):
    """Inference-time dropout: x, unchanged."""
    return [arrays[0]]


def _where_kind(node, ins):
    return [kinds.join(ins[1].kind, ins[2].kind)]


def _where_dtype(node, ins):
    return [ins[1].dtype]


@op("where", arity=3, shape=broadcast_shapes, kind=_where_kind, dtype=_where_dtype,
    traits={ELEMENTWISE, SPIKE_PRESERVING})
def where(node, arrays):
    """cond ? a : b."""
    c, a, b = align(arrays)
    return [np.where(c.astype(bool), a, b)]


def _const_shape(node, ins):
    return [tuple(node.params["value"].shape)]


def _const_kind(node, ins):
    return [kinds.Kind.of_array(node.params["value"])]


def _const_dtype(node, ins):
    return [str(node.params["value"].dtype)]


def _const_axes(node, ins):
    return [""]


@op("constant", arity=0, shape=_const_shape, kind=_const_kind, dtype=_const_dtype, axes=_const_axes,
    params=("value",))
def constant(node, arrays):
    """A tensor fixed at compile time, the same for every sample and step."""
    return [node.params["value"][None]]

