"""Deliberately broken ONNX files: each gives exit code 2 and one clear line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from snnc.onnx.dialect import function_protos


def _model(nodes, inputs, outputs, initializers=(), opset=18, domains=(), functions=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=opsets, functions=list(functions))
    model.ir_version = 8
    return model


def _x(dims=("N", 3, 8, 8)):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))


def _y(dims=None):
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)


def _w(name="w", shape=(4, 3, 3, 3)):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


def good_model():
    return _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], name="conv")],
                  [_x()], [_y()], [_w()])


def truncated(tmp):
    data = good_model().SerializeToString()
    (tmp / "m.onnx").write_bytes(data[: len(data) // 2])


def not_onnx(tmp):
    (tmp / "m.onnx").write_text("this is not a protobuf\n" * 20)


def wrong_opset(tmp):
    onnx.save(_model([helper.make_node("Relu", ["x"], ["y"])], [_x()], [_y()], opset=7), tmp / "m.onnx")


def missing_initializer(tmp):
    onnx.save(_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [_x()], [_y()]), tmp / "m.onnx")


def cyclic(tmp):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second"),
             helper.make_node("Relu", ["a"], ["y"], name="out")]
    onnx.save(_model(nodes, [_x()], [_y()]), tmp / "m.onnx")


def unknown_ops(tmp):
    nodes = [helper.make_node("Frobnicate", ["x"], ["a"], name="frob", domain="com.example"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("NonZero", ["b"], ["y"], name="nz")]
    onnx.save(_model(nodes, [_x()], [_y()], domains=["com.example"]), tmp / "m.onnx")


def shape_mismatch(tmp):
    onnx.save(_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [_x()], [_y()],
                     [_w(shape=(4, 5, 3, 3))]), tmp / "m.onnx")


def empty_graph(tmp):
    onnx.save(_model([], [_x()], []), tmp / "m.onnx")


def lif_missing_attribute(tmp):
    node = helper.make_node("LIF", ["x"], ["y"], domain="snnc", name="lif", tau=2.0, v_threshold=1.0)
    x = _x(("T", "N", 4))
    model = _model([node], [x], [_y()], domains=["snnc"], functions=function_protos(["LIF"]))
    helper.set_model_props(model, {"snnc.layout": '{"x": {"time_axis": 0, "batch_axis": 1}}'})
    onnx.save(model, tmp / "m.onnx")


def open_feature_dims(tmp):
    onnx.save(_model([helper.make_node("Relu", ["x"], ["y"])], [_x(("N", 3, "H", "W"))], [_y()]), tmp / "m.onnx")


def neuron_on_folded_time(tmp):
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=2, name="flat"),
             helper.make_node("Reshape", ["f", "s"], ["r"], name="fold"),
             helper.make_node("LIF", ["r"], ["y"], domain="snnc", name="lif", tau=2.0, v_threshold=1.0,
                              v_reset=0.0, soft_reset=0, decay_input=1)]
    shape = numpy_helper.from_array(np.array([-1, 4], np.int64), "s")
    model = _model(nodes, [_x(("T", "N", 4))], [_y()], [shape], domains=["snnc"],
                   functions=function_protos(["LIF"]))
    helper.set_model_props(model, {"snnc.layout": '{"x": {"time_axis": 0, "batch_axis": 1}}'})
    onnx.save(model, tmp / "m.onnx")


def duplicate_output(tmp):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r1"), helper.make_node("Relu", ["x"], ["a"], name="r2"),
             helper.make_node("Relu", ["a"], ["y"], name="r3")]
    onnx.save(_model(nodes, [_x()], [_y()]), tmp / "m.onnx")


def directory(tmp):
    (tmp / "m.onnx").mkdir()


BROKEN = {
    "truncated": (truncated, "not a readable ONNX file"),
    "not-onnx": (not_onnx, "not a readable ONNX file"),
    "wrong-opset": (wrong_opset, "opset 7 is not supported"),
    "missing-initializer": (missing_initializer, "reads 'w', which no input, initializer or node defines"),
    "cyclic": (cyclic, "cycle"),
    "unknown-ops": (unknown_ops, "2 node(s) use ops snnc does not support"),
    "shape-mismatch": (shape_mismatch, "node 'conv' (Conv)"),
    "empty-graph": (empty_graph, "the graph has no nodes"),
    # in the order of the lif OpDef, which the snnc::LIF schema is read off
    "lif-missing-attribute": (lif_missing_attribute, "missing attribute(s) decay_input, v_reset, soft_reset"),
    "open-feature-dims": (open_feature_dims, "open dimension(s) [2, 3]"),
    "neuron-on-folded-time": (neuron_on_folded_time, "a neuron reads [T, N, ...]"),
    "duplicate-output": (duplicate_output, "output 'a' is already defined"),
    "directory": (directory, "is a directory"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_file_is_one_clear_line_and_exit_2(case, tmp_path):
    make, expected = BROKEN[case]
    make(tmp_path)
    done = subprocess.run([sys.executable, "-m", "snnc", "show", str(tmp_path / "m.onnx")],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("snnc: error: ") and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    # one line, or one summary line plus one line per problem found (e.g. each unknown op)
    assert all(line.startswith("  ") for line in lines[1:])
    assert done.stdout == ""


def test_unknown_ops_are_all_listed(tmp_path):
    unknown_ops(tmp_path)
    done = subprocess.run([sys.executable, "-m", "snnc", "show", str(tmp_path / "m.onnx")],
                          capture_output=True, text=True)
    assert "node 'frob' (com.example::Frobnicate)" in done.stderr
    assert "node 'nz' (NonZero)" in done.stderr


def test_the_good_model_imports(tmp_path):
    onnx.save(good_model(), tmp_path / "m.onnx")
    done = subprocess.run([sys.executable, "-m", "snnc", "show", str(tmp_path / "m.onnx")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "%y = conv[pads=1](%x) {weight: f32[4,3,3,3]} : analog[4,8,8] @N" in done.stdout
