"""Converters for the ``snnc`` domain: each stateful spiking op is one node, read by its
``(domain, op_type)`` and typed attributes, no pattern matching."""

from __future__ import annotations

import math

from onnx import AttributeProto

from snnc.onnx import dialect
from snnc.onnx.importer.context import Context, converter

_READ = {AttributeProto.FLOAT: lambda a: float(a.f), AttributeProto.INT: lambda a: int(a.i),
         AttributeProto.FLOATS: lambda a: [float(v) for v in a.floats]}


def _attributes(ctx: Context, node) -> dict:
    """The node's attributes, each of its schema's type, none missing, none unknown."""
    schema = dialect.SCHEMAS[node.op_type]
    attrs = {}
    for a in node.attribute:
        if a.name not in schema.attributes:
            raise ctx.fail(f"unknown attribute {a.name!r} (snnc::{node.op_type} has "
                           f"{', '.join(schema.attributes) or 'none'})")
        if a.type != schema.attributes[a.name]:
            want = AttributeProto.AttributeType.Name(schema.attributes[a.name]).lower()
            raise ctx.fail(f"attribute {a.name!r} must be a {want}")
        attrs[a.name] = _READ[a.type](a)
    missing = [name for name in schema.attributes if name not in attrs]
    if missing:
        raise ctx.fail(f"missing attribute(s) {', '.join(missing)}")
    return attrs


def _timed_input(ctx: Context, node, x: str, what: str) -> str:
    layout = ctx.layout(x)
    if layout.batch != ("T", "N") or layout.pos != 0:
        raise ctx.fail(f"{what} reads [T, N, ...]; {x!r} is laid out as {layout.describe()}")
    return ctx.value(x)


@converter("LIF", "IF", domain=dialect.DOMAIN)
def neuron(ctx: Context, node) -> None:
    attrs = _attributes(ctx, node)
    x = _timed_input(ctx, node, node.input[0], "a neuron")
    if attrs["soft_reset"] and attrs["v_reset"] != 0.0:
        raise ctx.fail("soft_reset=1 requires v_reset=0")
    if node.op_type == "LIF" and not attrs["tau"] > 1.0:
        raise ctx.fail(f"tau must be > 1, got {attrs['tau']}")
    ctx.emit(dialect.IR_OPS[node.op_type], [x], attrs=attrs)


@converter("MultiThreshold", "CumMean", "Delta", "SpikingMatMul", domain=dialect.DOMAIN)
def conversion_op(ctx: Context, node) -> None:
    """ECMT's ops (:mod:`snnc.onnx.dialect_conversion`): every input is ``[T, N, ...]``."""
    attrs = _attributes(ctx, node)
    if node.op_type == "MultiThreshold":
        if attrs["levels"] < 1 or not attrs["gap"] >= 1.0:
            raise ctx.fail(f"levels must be >= 1 and gap >= 1, got levels={attrs['levels']}, gap={attrs['gap']}")
        for name in ("theta_pos", "theta_neg"):
            if not attrs[name] or not all(v > 0 for v in attrs[name]):
                raise ctx.fail(f"{name} must list one threshold > 0, or one per channel")
    inputs = [_timed_input(ctx, node, x, f"snnc::{node.op_type}") for x in node.input]
    ctx.emit(dialect.IR_OPS[node.op_type], inputs, attrs=attrs)


@converter("SIExp", "SINorm", domain=dialect.DOMAIN)
def sit_op(ctx: Context, node) -> None:
    """SIT's neurons (:mod:`snnc.onnx.dialect_sit`): stateless per step, any layout."""
    attrs = _attributes(ctx, node)
    x = node.input[0]
    if node.op_type == "SIExp":
        k = attrs["K"]
        bad = [n for n in ("T", "h", "d") if len(attrs[n]) != k or not all(math.isfinite(v) for v in attrs[n])]
        if k < 1 or bad:
            raise ctx.fail(f"K must be >= 1 and the tables {', '.join(bad) or 'T, h, d'} must hold K = {k} "
                           "finite values each")
        ctx.emit("si_exp", [ctx.value(x)], attrs=attrs)
        return
    if not (math.isfinite(attrs["n_spike"]) and attrs["n_spike"] > 0):
        raise ctx.fail(f"n_spike must be > 0, got {attrs['n_spike']}")
    attrs["axis"] = ctx.sample_axis(x, attrs["axis"])
    ctx.emit("si_norm", [ctx.value(x)], attrs=attrs)


@converter("Leaky", "Synaptic", domain=dialect.DOMAIN)
def leaky(ctx: Context, node) -> None:
    """snnTorch's Leaky and Synaptic (:mod:`snnc.onnx.dialect_frameworks`)."""
    attrs = _attributes(ctx, node)
    for decay in ("alpha", "beta"):
        if decay in attrs and not 0.0 <= attrs[decay] <= 1.0:
            raise ctx.fail(f"{decay} must be in [0, 1] (snnTorch clamps it), got {attrs[decay]}")
    if attrs["reset_mechanism"] not in (0, 1, 2):
        raise ctx.fail(f"reset_mechanism must be 0 (subtract), 1 (zero) or 2 (none), got {attrs['reset_mechanism']}")
    x = _timed_input(ctx, node, node.input[0], "a neuron")
    ctx.emit(dialect.IR_OPS[node.op_type], [x], attrs=attrs)


@converter("LIFBox", "LIFCurrent", domain=dialect.DOMAIN)
def norse_cell(ctx: Context, node) -> None:
    """Norse's LIFBoxCell and LIFCell (:mod:`snnc.onnx.dialect_frameworks`)."""
    attrs = _attributes(ctx, node)
    x = _timed_input(ctx, node, node.input[0], "a neuron")
    ctx.emit(dialect.IR_OPS[node.op_type], [x], attrs=attrs)


@converter("SpikingJellyLIF", domain=dialect.DOMAIN)
def sj_lif(ctx: Context, node) -> None:
    """SpikingJelly 2.0's LIFNode/ParametricLIFNode (:mod:`snnc.onnx.dialect_frameworks`)."""
    attrs = _attributes(ctx, node)
    if attrs["soft_reset"] and attrs["v_reset"] != 0.0:
        raise ctx.fail("soft_reset=1 requires v_reset=0")
    if not attrs["factor"] > 0.0:
        raise ctx.fail(f"factor must be > 0, got {attrs['factor']}")
    ctx.emit("sj_lif", [_timed_input(ctx, node, node.input[0], "a neuron")], attrs=attrs)


@converter("SinabsLIF", domain=dialect.DOMAIN)
def sinabs_lif(ctx: Context, node) -> None:
    """Sinabs' IAF/LIF (:mod:`snnc.onnx.dialect_frameworks`)."""
    attrs = _attributes(ctx, node)
    if not attrs["threshold"] > 0.0:
        raise ctx.fail(f"threshold must be > 0, got {attrs['threshold']}")
    if attrs["max_spikes"] < 0:
        raise ctx.fail(f"max_spikes must be >= 0 (0: no cap), got {attrs['max_spikes']}")
    ctx.emit("sinabs_lif", [_timed_input(ctx, node, node.input[0], "a neuron")], attrs=attrs)
