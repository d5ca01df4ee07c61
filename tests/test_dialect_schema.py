"""The ``snnc`` ONNX dialect and the IR op registry agree on every op's attributes (issue 12).

The dialect's schemas are read off the IR ops' OpDefs; the hand-written parts that still
name attributes are checked against the OpDef here, so neither can drift: each op's
FunctionProto (the attributes it declares, and every ``ref_attr_name`` its body reads, with
the ONNX type it reads it as, Scan bodies included) and each PyTorch module's
``onnx_attributes()`` (what the exporter writes on the node).
"""

from __future__ import annotations

import pytest
from onnx import AttributeProto, FunctionProto, NodeProto

from snnc.ir import get
from snnc.onnx import dialect

from conftest import require

torch = require("torch")

#: an IR attribute type -> the ONNX type a body must read it as, written out here (not the
#: dialect's table: the test would otherwise compare the dialect with itself)
_ONNX = {float: AttributeProto.FLOAT, int: AttributeProto.INT, "floats": AttributeProto.FLOATS,
         "ints": AttributeProto.INTS}
#: every op type the dialect has had since version 1, and the IR op each stands for
_EXPECTED = {"LIF": "lif", "IF": "if", "MultiThreshold": "multi_threshold", "CumMean": "cum_mean",
             "Delta": "delta", "SpikingMatMul": "spiking_matmul", "SIExp": "si_exp", "SINorm": "si_norm",
             "Leaky": "leaky", "Synaptic": "synaptic", "LIFBox": "lif_box", "LIFCurrent": "lif_current",
             "SpikingJellyLIF": "sj_lif", "SinabsLIF": "sinabs_lif"}


def _reads(nodes: list[NodeProto]) -> dict[str, int]:
    """``ref_attr_name -> type`` of every attribute reference in ``nodes`` and their subgraphs."""
    found = {}
    for node in nodes:
        for a in node.attribute:
            if a.ref_attr_name:
                found[a.ref_attr_name] = a.type
            if a.type == AttributeProto.GRAPH:
                found.update(_reads(list(a.g.node)))
    return found


def test_the_dialect_covers_its_ops_and_maps_each_to_its_ir_op():
    assert dialect.IR_OPS == _EXPECTED
    assert dialect.ONNX_OPS == {ir: onnx_op for onnx_op, ir in _EXPECTED.items()}


@pytest.mark.parametrize("op_type", sorted(_EXPECTED))
def test_function_body_reads_exactly_the_ir_ops_attributes(op_type):
    opdef = get(_EXPECTED[op_type])
    # the IR attributes only a Loihi program sets (a clock's start) are no ONNX attributes
    attrs = {name: spec for name, spec in opdef.attrs.items() if name not in dialect.PROGRAM_ONLY}
    (fn,) = dialect.function_protos([op_type])
    assert isinstance(fn, FunctionProto) and (fn.domain, fn.name) == (dialect.DOMAIN, op_type)
    assert sorted(fn.attribute) == sorted(attrs), "declared attributes"
    reads = _reads(list(fn.node))
    assert reads == {name: _ONNX[attrs[name].type] for name in reads if name in attrs}
    # every attribute is read, but SIExp's K: the body takes K from the tables' length
    assert set(attrs) - set(reads) == ({"K"} if op_type == "SIExp" else set())
    assert len(fn.input) == opdef.arity[0] == opdef.arity[1] and len(fn.output) == opdef.n_outputs
    schema = dialect.SCHEMAS[op_type]
    assert schema.attributes == {name: _ONNX[spec.type] for name, spec in attrs.items()}
    assert schema.arity == (len(fn.input), len(fn.input))


def _modules():
    nn = require("snnc.nn")
    from snnc.nn.frameworks import LIFBox, LIFCurrent, Leaky, SinabsLIF, SpikingJellyLIF, Synaptic

    yield "LIF", nn.LIF(tau=3.0, v_reset=None)
    yield "IF", nn.IF()
    yield "MultiThreshold", nn.MultiThreshold(levels=4, theta_pos=0.5)
    yield "Leaky", Leaky(beta=0.9)
    yield "Synaptic", Synaptic(alpha=0.8, beta=0.9)
    yield "LIFBox", LIFBox(dt_tau_inv=0.1)
    yield "LIFCurrent", LIFCurrent(k_mem=0.1, k_syn=-0.2)
    yield "SpikingJellyLIF", SpikingJellyLIF(factor=2.0, divide=True)
    yield "SinabsLIF", SinabsLIF()
    yield "SIExp", nn.SIExp(2, [0.5, 0.25], [0.5, 0.25], [1.0, 0.5])


def test_exported_modules_write_exactly_the_ir_ops_attributes_with_their_types():
    seen = set()
    for op_type, module in _modules():
        opdef = get(_EXPECTED[op_type])
        attrs = module.onnx_attributes()
        assert sorted(attrs) == sorted(opdef.attrs), op_type
        for name, value in attrs.items():
            # torch.onnx writes a Python float as FLOAT, an int as INT, a list of floats as FLOATS
            assert opdef.attrs[name].check(value) and not isinstance(value, bool), (op_type, name, value)
            want = {float: float, int: int, "floats": list, "ints": list}[opdef.attrs[name].type]
            assert type(value) is want, (op_type, name, value)
        seen.add(op_type)
    # the ops without attributes (CumMean, Delta, SpikingMatMul) and SINorm (written inline)
    assert seen | {"CumMean", "Delta", "SpikingMatMul", "SINorm"} == set(_EXPECTED)
