"""The ``snnc`` ONNX domain, version 1: op schemas and their function bodies.

Every stateful spiking op is one node in domain ``snnc`` with typed attributes. The
model carries one local :class:`onnx.FunctionProto` per op type whose body, in standard
ONNX ops, is the op's exact semantics, so onnxruntime and ``onnx.reference`` run the
file as is. A body reshapes ``X: [T, ...]`` to ``[T, M]`` and scans over T with a
rank-1 state ``V: [M]`` (an anonymous dimension: untyped Scan bodies fail on
onnxruntime <= 1.23, named ones collide). Each formula is written op for op like
:mod:`snnc.nn.neurons`, choosing branches with ``Where`` so that no value is ever
rounded differently from PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

from onnx import AttributeProto, FunctionProto, GraphProto, NodeProto, TensorProto, helper

import snnc.ir.ops  # noqa: F401  (registers every IR op: the schemas below are read off them)
from snnc.ir.registry import get as ir_op
from snnc.onnx.function_nodes import attr_const
from snnc.onnx import dialect_conversion, dialect_frameworks, dialect_sit

DOMAIN = "snnc"
VERSION = 1
#: model metadata: each input's axes (JSON), the T a model repeats its input over, the
#: dialect version — written by the exporters, read by the importer
LAYOUT_KEY, TIMESTEPS_KEY, DIALECT_KEY = "snnc.layout", "snnc.timesteps", "snnc.dialect"
#: a converted SNN's source ANN: its dense MACs per sample, the baseline of energy ratios
ANN_MACS_KEY = "snnc.ann_macs"
#: the default-domain opset the exporter writes and every function body uses
OPSET = 18

_FLOAT, _INT = AttributeProto.FLOAT, AttributeProto.INT
#: an IR attribute's type (:class:`snnc.ir.registry.Attr`) -> the ONNX attribute type it is written as
ONNX_ATTRIBUTE_TYPE = {float: _FLOAT, int: _INT, "floats": AttributeProto.FLOATS, "ints": AttributeProto.INTS}


@dataclass(frozen=True)
class OpSchema:
    """An ``snnc`` op: the IR op it stands for, its attributes (name -> ONNX attribute
    type, in the IR op's order), doc, input count range and output count. Everything but
    the doc is read off the IR op's :class:`~snnc.ir.registry.OpDef`: one home per fact."""

    name: str
    ir_op: str
    attributes: dict[str, int]
    doc: str
    arity: tuple[int, int]
    outputs: int


#: IR attributes only a quantised Loihi program sets, never written to or read from ONNX:
#: ``start``, the step a clocked op (cum_mean, delta, spiking_matmul) in the Lava run counts
#: time from (the quantiser's ``time-origin`` rule); a float graph has 0, the ONNX semantics
PROGRAM_ONLY = frozenset({"start"})


def _schema(name: str, ir_name: str, doc: str) -> OpSchema:
    opdef = ir_op(ir_name)
    attributes = {a: ONNX_ATTRIBUTE_TYPE[spec.type] for a, spec in opdef.attrs.items() if a not in PROGRAM_ONLY}
    return OpSchema(name, ir_name, attributes, doc, opdef.arity, opdef.n_outputs)


#: ONNX op type -> (IR op, doc string of its FunctionProto); the ONNX-specific part of each op
OPS: dict[str, tuple[str, str]] = {
    "LIF": ("lif", "Leaky integrate-and-fire over [T, ...] (Spikingformer Eq. 1-2)."),
    "IF": ("if", "Integrate-and-fire over [T, ...]: H = V + X."),
    # ECMT's conversion ops (MultiThreshold, CumMean, Delta, SpikingMatMul): their own module
    **dialect_conversion.OPS,
    # SIT's Spiking-Softmax neurons (SIExp, SINorm): stateless per step
    **dialect_sit.OPS,
    # other frameworks' neurons (snnTorch, Norse, SpikingJelly, Sinabs): their own module
    **dialect_frameworks.OPS,
}
SCHEMAS: dict[str, OpSchema] = {name: _schema(name, ir_name, doc) for name, (ir_name, doc) in OPS.items()}
#: the two op-name tables, both ways: ONNX op type <-> IR op
IR_OPS: dict[str, str] = {name: s.ir_op for name, s in SCHEMAS.items()}
ONNX_OPS: dict[str, str] = {s.ir_op: name for name, s in SCHEMAS.items()}


def _const(out: str, value: float) -> NodeProto:
    return helper.make_node("Constant", [], [out], value_float=value, name=f"const_{out}")


def _vector(name: str, elem: int = TensorProto.FLOAT):
    # rank 1 with an anonymous dimension (see module docstring)
    return helper.make_tensor_value_info(name, elem, [None])


def _scan_body(charge: list[NodeProto], name: str) -> GraphProto:
    """Body ``(V, X) -> (V', S)``: ``charge`` computes H from V and X, then fire and reset."""
    fire_reset = [
        helper.make_node("GreaterOrEqual", ["H", "v_th"], ["fired"]),      # Θ(H - v_th)
        helper.make_node("Cast", ["fired"], ["S"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["H", "v_th"], ["V_soft"]),
        helper.make_node("Where", ["soft", "V_soft", "v_reset"], ["V_fired"]),
        helper.make_node("Where", ["fired", "V_fired", "H"], ["V_next"]),
    ]
    return helper.make_graph(charge + fire_reset, name, [_vector("V"), _vector("X")],
                             [_vector("V_next"), _vector("S")])


def _neuron_function(op: str, charge: list[NodeProto], extra: list[NodeProto]) -> FunctionProto:
    schema = SCHEMAS[op]
    nodes = [attr_const(a, a, t) for a, t in schema.attributes.items()]
    nodes += [
        helper.make_node("Identity", ["v_threshold"], ["v_th"]),
        helper.make_node("Cast", ["soft_reset"], ["soft"], to=TensorProto.BOOL),
        _const("zero", 0.0),
        helper.make_node("Where", ["soft", "zero", "v_reset"], ["v_init"]),
        *extra,
        helper.make_node("Shape", ["X"], ["x_shape"]),
        helper.make_node("Constant", [], ["tm"], value_ints=[0, -1]),
        helper.make_node("Reshape", ["X", "tm"], ["X_tm"]),                # [T, M]
        helper.make_node("Shape", ["X_tm"], ["m"], start=1, end=2),
        helper.make_node("Expand", ["v_init", "m"], ["V0"]),                # [M]
        helper.make_node("Scan", ["V0", "X_tm"], ["V_last", "S_tm"], num_scan_inputs=1,
                         body=_scan_body(charge, f"{op}_step")),
        helper.make_node("Reshape", ["S_tm", "x_shape"], ["Y"]),
    ]
    return helper.make_function(
        DOMAIN, op, ["X"], ["Y"], nodes,
        opset_imports=[helper.make_opsetid("", OPSET)],
        attributes=list(schema.attributes), doc_string=schema.doc)


def lif_function() -> FunctionProto:
    """LIF's body. Charge, formula for formula as :class:`snnc.nn.LIF`."""
    charge = [
        # decay_input:  H = V + (X - (V - v_reset)) / tau
        helper.make_node("Sub", ["V", "v_reset"], ["v_minus_r"]),
        helper.make_node("Sub", ["X", "v_minus_r"], ["x_minus"]),
        helper.make_node("Div", ["x_minus", "tau"], ["x_minus_tau"]),
        helper.make_node("Add", ["V", "x_minus_tau"], ["H_decay_input"]),
        # no decay_input, v_reset != 0:  H = V - (V - v_reset) / tau + X
        helper.make_node("Div", ["v_minus_r", "tau"], ["leak"]),
        helper.make_node("Sub", ["V", "leak"], ["v_leaked"]),
        helper.make_node("Add", ["v_leaked", "X"], ["H_general"]),
        # no decay_input, v_reset == 0:  H = V * (1 - 1/tau) + X
        helper.make_node("Mul", ["V", "keep"], ["v_kept"]),
        helper.make_node("Add", ["v_kept", "X"], ["H_reset0"]),
        helper.make_node("Where", ["reset_is_zero", "H_reset0", "H_general"], ["H_no_decay_input"]),
        helper.make_node("Where", ["decay", "H_decay_input", "H_no_decay_input"], ["H"]),
    ]
    extra = [
        helper.make_node("Cast", ["decay_input"], ["decay"], to=TensorProto.BOOL),
        _const("one", 1.0),
        helper.make_node("Div", ["one", "tau"], ["inv_tau"]),
        helper.make_node("Sub", ["one", "inv_tau"], ["keep"]),
        helper.make_node("Equal", ["v_reset", "zero"], ["reset_is_zero"]),
    ]
    return _neuron_function("LIF", charge, extra)


def if_function() -> FunctionProto:
    """IF's body: ``H = V + X``."""
    return _neuron_function("IF", [helper.make_node("Add", ["V", "X"], ["H"])], [])


FUNCTIONS = {"LIF": lif_function, "IF": if_function}
FUNCTIONS.update({op: (lambda build=build, op=op: build(OPSET, DOMAIN, SCHEMAS[op].doc))
                  for op, build in {**dialect_conversion.BUILDERS, **dialect_sit.BUILDERS,
                                    **dialect_frameworks.BUILDERS}.items()})


def output_shape(op_type: str, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The output shape of an ``snnc`` node from its input shapes (probing)."""
    return dialect_conversion.output_shape(op_type, shapes) or tuple(shapes[0])


def function_protos(op_types) -> list[FunctionProto]:
    """The function bodies for the given ``snnc`` op types, in a stable order."""
    return [FUNCTIONS[op]() for op in sorted(set(op_types))]
