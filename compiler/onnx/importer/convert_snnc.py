"""Converters for the ``snnc`` domain: each stateful spiking op is one node, read by its
``(domain, op_type)`` and typed attributes, no pattern matching."""

from __future__ import annotations

from onnx import AttributeProto

from snnc.onnx import dialect
from snnc.onnx.importer.context import Context, converter

_IR_OP = {"LIF": "lif", "IF": "if"}
_PY = {AttributeProto.FLOAT: float, AttributeProto.INT: int}


@converter(*dialect.SCHEMAS, domain=dialect.DOMAIN)
def neuron(ctx: Context, node) -> None:
    schema = dialect.SCHEMAS[node.op_type]
    x = node.input[0]
    layout = ctx.layout(x)
    if layout.batch != ("T", "N") or layout.pos != 0:
        raise ctx.fail(f"a neuron reads [T, N, ...]; {x!r} is laid out as {layout.describe()}")
    attrs = {}
    for a in node.attribute:
        if a.name not in schema.attributes:
            raise ctx.fail(f"unknown attribute {a.name!r} (snnc::{node.op_type} has "
                           f"{', '.join(schema.attributes)})")
        if a.type != schema.attributes[a.name]:
            want = AttributeProto.AttributeType.Name(schema.attributes[a.name]).lower()
            raise ctx.fail(f"attribute {a.name!r} must be a {want}")
        attrs[a.name] = _PY[a.type](a.f if a.type == AttributeProto.FLOAT else a.i)
    missing = [name for name in schema.attributes if name not in attrs]
    if missing:
        raise ctx.fail(f"missing attribute(s) {', '.join(missing)}")
    if attrs.get("soft_reset") and attrs.get("v_reset", 0.0) != 0.0:
        raise ctx.fail("soft_reset=1 requires v_reset=0")
    if node.op_type == "LIF" and not attrs["tau"] > 1.0:
        raise ctx.fail(f"tau must be > 1, got {attrs['tau']}")
    ctx.emit(_IR_OP[node.op_type], [ctx.value(x)], attrs=attrs)
