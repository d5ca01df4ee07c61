"""``dce``, ``remove-identity`` and ``fold-constants``: what each removes, what it keeps,
and onnxruntime on the graph before and after."""

from __future__ import annotations

import numpy as np

from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.interpret import run as interpret
from snnc.onnx.ir_to_onnx import graph_to_onnx
from snnc.passes import PassLog, dce, fold_constants, remove_identity

from pass_models import run_unoptimized

RNG = np.random.default_rng(0)


def graph(shape=(2, 4)) -> Graph:
    g = Graph("clean")
    g.add_input(Value("x", shape))
    return g


def const(g, name, value):
    return emit(g, "constant", [], name=name, params={"value": np.asarray(value)}).outputs[0]


def same_on_onnxruntime(before: Graph, after: Graph) -> None:
    shape = before.values["x"].shape
    feeds = {"x": RNG.standard_normal((3, 2, *shape)).astype(np.float32)}
    a = run_unoptimized(graph_to_onnx(before), feeds)
    b = run_unoptimized(graph_to_onnx(after), feeds)
    assert list(a) == list(b) == before.outputs == after.outputs
    for name in a:
        np.testing.assert_array_equal(b[name], a[name])


def test_dce_removes_what_nothing_reads():
    g = graph()
    emit(g, "lif", [emit(g, "relu", ["x"], name="dead_relu").outputs[0]], name="dead_lif")
    const(g, "dead_const", np.float32(3))
    y = emit(g, "conv", ["x"], name="conv", params={"weight": RNG.standard_normal((3, 2, 1)).astype(np.float32)})
    g.outputs = [emit(g, "lif", y.outputs, name="lif").outputs[0]]
    log = PassLog("dce")
    out = dce(g, log)
    assert log.counts == {"removed": 3}
    assert [n.name for n in out.nodes] == ["conv", "lif"]
    same_on_onnxruntime(g, out)


def test_remove_identity_keeps_names_and_meaning():
    g = graph()
    v = emit(g, "identity", ["x"], name="id").outputs[0]
    v = emit(g, "dropout", [v], name="drop", attrs={"ratio": 0.3}).outputs[0]
    v = emit(g, "cast", [v], name="same_type", attrs={"to": "float32"}).outputs[0]
    v = emit(g, "reshape", [v], name="same_shape", attrs={"shape": [2, 4]}).outputs[0]
    v = emit(g, "transpose", [v], name="no_perm", attrs={"perm": [0, 1]}).outputs[0]
    v = emit(g, "transpose", [v], name="real_perm", attrs={"perm": [1, 0]}).outputs[0]
    s = emit(g, "lif", [v], name="lif").outputs[0]
    y = emit(g, "identity", [s], name="y").outputs[0]                # the graph output, named y
    half = emit(g, "cast", [s], name="to_half", attrs={"to": "float16"}).outputs[0]
    g.outputs = [y, half]
    log = PassLog("remove-identity")
    out = remove_identity(g, log)
    assert log.counts == {"removed": 6}
    assert [n.op for n in out.nodes] == ["transpose", "lif", "cast"]
    assert out.outputs == ["y", "to_half"] and out.producer("y").op == "lif"
    same_on_onnxruntime(g, out)


def test_remove_identity_keeps_an_input_returned_under_another_name():
    g = graph()
    g.outputs = [emit(g, "identity", ["x"], name="y").outputs[0]]
    log = PassLog("remove-identity")
    out = remove_identity(g, log)
    assert log.counts == {"removed": 0, "left": 1} and "graph input" in log.left[0][1]
    assert out.same_as(g)


def test_fold_constants_evaluates_constant_ops_and_merges_reshapes():
    g = graph((2, 3))
    table = const(g, "table", np.arange(6, dtype=np.float32))
    rows = emit(g, "reshape", [table], name="rows", attrs={"shape": [2, 3]}).outputs[0]
    bias = emit(g, "mul", [rows, const(g, "two", np.float32(2))], name="bias").outputs[0]
    v = emit(g, "add", ["x", bias], name="add").outputs[0]
    v = emit(g, "reshape", [v], name="flat", attrs={"shape": [6]}).outputs[0]
    v = emit(g, "reshape", [v], name="cols", attrs={"shape": [3, 2]}).outputs[0]
    v = emit(g, "reshape", [v], name="back", attrs={"shape": [1, 6]}).outputs[0]
    g.outputs = [emit(g, "lif", [v], name="lif", attrs={"v_threshold": 3.0}).outputs[0]]
    log = PassLog("fold-constants")
    out = fold_constants(g, log)
    assert log.counts == {"folded": 2, "reshapes_merged": 2}
    assert [(n.name, n.op) for n in out.nodes] == [("bias", "constant"), ("add", "add"), ("back", "reshape"),
                                                   ("lif", "lif")]
    np.testing.assert_array_equal(out.node("bias").params["value"], np.arange(6).reshape(2, 3) * 2)
    assert out.node("back").inputs == ["add"]
    same_on_onnxruntime(g, out)
    x = {"x": RNG.standard_normal((2, 2, 2, 3)).astype(np.float32)}
    np.testing.assert_array_equal(interpret(out, x)["lif"], interpret(g, x)["lif"])
