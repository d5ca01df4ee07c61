"""Node builders shared by the dialect's FunctionProto bodies (``dialect.py`` and the
``dialect_*.py`` modules): one home, so every body names its nodes and reads its call
site's attributes the same way."""

from __future__ import annotations

from onnx import AttributeProto, NodeProto, helper

#: the Constant field that holds a value of each attribute type
_FIELD = {AttributeProto.FLOAT: "value_float", AttributeProto.INT: "value_int",
          AttributeProto.FLOATS: "value_floats", AttributeProto.INTS: "value_ints"}


def node(op: str, ins: list[str], outs: list[str], **attrs) -> NodeProto:
    """An ``op`` node named after its first output (names must be unique in a body)."""
    return helper.make_node(op, ins, outs, name=f"{op}_{outs[0]}", **attrs)


def attr_const(out: str, attr: str, kind: int) -> NodeProto:
    """``out = Constant(@attr)``: the calling node's attribute ``attr`` (of ONNX type
    ``kind``) as a value inside the function body (``ref_attr_name``)."""
    const = helper.make_node("Constant", [], [out], name=f"attr_{attr}")
    a = AttributeProto()
    a.name, a.ref_attr_name, a.type = _FIELD[kind], attr, kind
    const.attribute.append(a)
    return const
