"""What the per-op property tests share (tests/test_ops_property_*.py): a one-node ONNX
model written with ``onnx.helper`` (snnc-dialect nodes carry the dialect's
FunctionProto, so onnxruntime runs their standard-op bodies), and the comparison of
onnxruntime's output with snnc's importer + interpreter and its simulator.

The ONNX file is the independent side: onnxruntime executes the ONNX spec of each
standard op (and the dialect's function bodies in standard ops), never snnc's numpy
references, so any disagreement is a bug in the importer, the reference or the body.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from hypothesis import HealthCheck, settings
from onnx import TensorProto, helper, numpy_helper

from onnx_helpers import run_ort
from snnc.backends.sim.simulator import Simulator
from snnc.ir.interpret import Interpreter
from snnc.onnx.dialect import function_protos
from snnc.onnx.importer import import_onnx

# small budgets: every file of these runs in well under 40 s on one core
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def tensor(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def model(nodes, inputs: dict[str, tuple], *, inits=(), timed=(), outputs=("y",)) -> onnx.ModelProto:
    """A model over float inputs ``name -> dims`` (``"N"``/``"T"`` symbolic); ``timed``
    inputs are laid out ``[T, N, ...]`` (the snnc.layout metadata the exporters write).
    Every ``snnc``-domain node brings its FunctionProto."""
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(d)) for n, d in inputs.items()]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    ops = sorted({n.op_type for n in nodes if n.domain == "snnc"})
    opsets = [helper.make_opsetid("", 18)] + ([helper.make_opsetid("snnc", 1)] if ops else [])
    m = helper.make_model(helper.make_graph(nodes, "prop", ins, outs, initializer=list(inits)),
                          opset_imports=opsets, functions=function_protos(ops))
    m.ir_version = 8
    if timed:
        layout = {n: {"time_axis": 0, "batch_axis": 1} for n in timed}
        helper.set_model_props(m, {"snnc.layout": json.dumps(layout)})
    return m


def snnc_node(op: str, inputs, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, list(inputs), ["y"], domain="snnc", name=op.lower(), **attrs)


def compare(proto: onnx.ModelProto, feeds: dict, *, rtol=1e-5, atol=1e-6, exact=False, engine="numpy",
            ops=None) -> tuple[np.ndarray, np.ndarray]:
    """onnxruntime vs snnc on ``feeds``: the interpreter and the simulator (in batches of
    2, so the batch split is exercised). ``exact``: equal element for element (spikes);
    ``ops``: the IR ops the import must produce (the case tests what it claims to).
    Returns (onnxruntime's output, the interpreter's)."""
    want = run_ort(proto, feeds)
    graph = import_onnx(proto)
    if ops is not None:
        got_ops = {n.op for n in graph.nodes}
        assert set(ops) <= got_ops, f"imported as {sorted(got_ops)}, expected {sorted(ops)}"
    got = Interpreter(graph).run(feeds)
    sim = Simulator(graph, engine=engine).simulate(feeds, batch_size=2).outputs
    for onnx_name, ir_name in zip([o.name for o in proto.graph.output], graph.outputs):
        w = want[onnx_name]
        for who, g in (("interpreter", got[ir_name]), (f"simulator ({engine})", sim[ir_name])):
            assert g.shape == w.shape, f"{who}: shape {g.shape}, onnxruntime {w.shape}"
            if exact:
                bad = np.flatnonzero(g != w)
                assert bad.size == 0, (f"{who}: {bad.size} of {w.size} elements differ; first at "
                                       f"{np.unravel_index(bad[0], w.shape)}: {g.flat[bad[0]]} vs {w.flat[bad[0]]}")
            else:
                np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=who)
    first = proto.graph.output[0].name
    return want[first], got[graph.outputs[0]]


def rand(draw, shape, scale=2.0, loc=0.0) -> np.ndarray:
    """Float32 normal data from a drawn seed (hypothesis shrinks the seed, not the array)."""
    from hypothesis import strategies as st

    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return rng.normal(loc, scale, shape).astype(np.float32)
