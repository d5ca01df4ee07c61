"""Hostile ONNX files (issue 17): each one, that once ended in a traceback, is now one
``snnc: error:`` line naming the tensor, node or metadata key, exit code 2."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hostile_helpers import lif, matmul, model, refused, refused_subprocess, save, weight, x_info, y_info


def _external(location: str) -> onnx.TensorProto:
    t = weight()
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    return t


def _typed(elem: int, values) -> onnx.TensorProto:
    return helper.make_tensor("w", elem, [4, 3], values)


def _edited(**fields) -> onnx.TensorProto:
    t = weight()
    for key, value in fields.items():
        if key == "dims":
            del t.dims[:]
            t.dims.extend(value)
        else:
            setattr(t, key, value)
    return t


def _fold(const_nodes, inits=()) -> onnx.ModelProto:
    """y = x + k, k folded from constants by ``const_nodes``."""
    return model(const_nodes + [helper.make_node("Add", ["x", "k"], ["y"], name="add")], [x_info()], [y_info()],
                 inits)


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def _two_values():
    node = helper.make_node("Constant", [], ["k"], name="cst", value_float=1.0)
    node.attribute.extend([helper.make_attribute("value_int", 2)])
    return _fold([node])


def _relu_props(props):
    return model([helper.make_node("Relu", ["x"], ["y"], name="r")], [x_info()], [y_info()], props=props)


def _int64_input():
    m = matmul(weight())
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.INT64
    return m


ONES = np.ones(12, np.float32).tolist()
CASES = {
    # external data: onnx's ValidationError, now one line naming the file and the reason
    "external-absolute": (lambda: matmul(_external("/etc/hostname")), ["outside the model's folder", "absolute path"]),
    "external-outside": (lambda: matmul(_external("../../w.data")), ["points outside the directory"]),
    "external-missing": (lambda: matmul(_external("nothere.data")), ["nothere.data", "not regular file"]),
    # initializer types numpy (or the op) cannot take
    "init-int8": (lambda: matmul(weight(np.ones((4, 3), np.int8))), ["node 'mm' (MatMul)", "int8"]),
    "init-float16": (lambda: matmul(weight(np.ones((4, 3), np.float16))), ["node 'mm' (MatMul)", "float16"]),
    "init-bool": (lambda: matmul(weight(np.ones((4, 3), bool))), ["node 'mm' (MatMul)", "bool"]),
    "init-bfloat16": (lambda: matmul(_typed(TensorProto.BFLOAT16, ONES)), ["initializer 'w'", "bfloat16"]),
    "init-float8": (lambda: matmul(_typed(TensorProto.FLOAT8E4M3FN, ONES)), ["initializer 'w'", "float8e4m3fn"]),
    "init-string": (lambda: matmul(_typed(TensorProto.STRING, [b"a"] * 12)), ["initializer 'w'", "string"]),
    "int64-input": (_int64_input, ["node 'mm' (MatMul)", "input types ['int64', 'float32']"]),
    # initializer data checked against its dims and type before numpy reads it
    "short-raw-data": (lambda: matmul(_edited(raw_data=weight().raw_data[:10])),
                       ["initializer 'w' holds 10 bytes", "need 12 values (48 bytes)"]),
    "huge-dims": (lambda: matmul(_edited(dims=[8, 2**40])), ["initializer 'w'", "[8, 1099511627776]"]),
    "undefined-dtype": (lambda: matmul(_edited(data_type=TensorProto.UNDEFINED)), ["initializer 'w'", "undefined"]),
    "nan-weight": (lambda: matmul(weight(np.full((4, 3), np.nan, np.float32))), ["initializer 'w'", "12 NaN"]),
    "inf-weight": (lambda: matmul(weight(np.full((4, 3), np.inf, np.float32))), ["parameter 'weight'", "NaN/inf"]),
    # constant folding: numpy's errors, now naming the node
    "fold-reshape-6-to-4": (lambda: _fold([helper.make_node("Reshape", ["c", "s"], ["k"], name="rs")],
                                          [_const("c", np.ones(6, np.float32)), _const("s", np.array([4]))]),
                            ["node 'rs' (Reshape)", "size 6 into shape (4,)"]),
    "fold-gather-out-of-range": (lambda: _fold([helper.make_node("Gather", ["c", "i"], ["k"], name="ga")],
                                               [_const("c", np.ones(4, np.float32)), _const("i", np.array([9]))]),
                                 ["node 'ga' (Gather)", "index 9 is out of bounds"]),
    "fold-concat-mismatch": (lambda: _fold([helper.make_node("Concat", ["c", "d"], ["k"], name="cat", axis=0)],
                                           [_const("c", np.ones((2, 4), np.float32)),
                                            _const("d", np.ones(2, np.float32))]),
                             ["node 'cat' (Concat)", "input shapes [[2, 4], [2]]"]),
    "constant-no-value": (lambda: _fold([helper.make_node("Constant", [], ["k"], name="cst")]),
                          ["node 'cst' (Constant)", "exactly one value attribute, it has 0"]),
    "constant-two-values": (_two_values, ["node 'cst' (Constant)", "it has 2 (value_float, value_int)"]),
    # structure
    "node-no-inputs": (lambda: model([helper.make_node("Relu", [], ["y"], name="r")], [x_info()], [y_info()]),
                       ["node 'r' (Relu) has 0 input(s)", "takes 1"]),
    "node-no-outputs": (lambda: model([helper.make_node("Relu", ["x"], [], name="r"),
                                       helper.make_node("Relu", ["x"], ["y"], name="r2")], [x_info()], [y_info()]),
                        ["node 'r' (Relu) has no output"]),
    "node-unnamed-no-io": (lambda: model([helper.make_node("Relu", [], []),
                                          helper.make_node("Relu", ["x"], ["y"], name="r2")], [x_info()], [y_info()]),
                           ["node '<unnamed>' (Relu) has no output"]),
    "lif-second-input": (lambda: lif(inputs=("x", "x")), ["node 'lif' (snnc::LIF) has 2 input(s)", "takes 1"]),
    # snnc.* metadata, refused at import naming the key
    "layout-list": (lambda: _relu_props({"snnc.layout": "[]"}), ["metadata snnc.layout is '[]'"]),
    "layout-entry-garbage": (lambda: _relu_props({"snnc.layout": '{"x": 3}'}),
                             ["metadata snnc.layout", "input 'x' is 3"]),
    "layout-axis-garbage": (lambda: _relu_props({"snnc.layout": '{"x": {"batch_axis": "zero"}}'}),
                            ["metadata snnc.layout", "batch_axis of input 'x' is 'zero'"]),
    "layout-not-json": (lambda: _relu_props({"snnc.layout": "{x"}), ["metadata snnc.layout: not valid JSON"]),
    "layout-deeply-nested": (lambda: _relu_props({"snnc.layout": "[" * 100_000 + "]" * 100_000}),
                             ["metadata snnc.layout", "nested too deeply"]),
    "timesteps-negative": (lambda: _relu_props({"snnc.timesteps": "-3"}), ["metadata snnc.timesteps is -3"]),
    "timesteps-not-integer": (lambda: _relu_props({"snnc.timesteps": "2.5"}),
                              ["metadata snnc.timesteps is '2.5', not a whole number"]),
    "timesteps-huge": (lambda: _relu_props({"snnc.timesteps": "100000000"}),
                       ["metadata snnc.timesteps is 100000000"]),
    # sizes
    "input-2**40-features": (lambda: model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                           [x_info(("N", 2**40))], [y_info()]),
                             ["one sample of input 'x' (shape [1099511627776])", "4.0 TiB", "free memory"]),
    "input-zero-size": (lambda: model([helper.make_node("Relu", ["x"], ["y"], name="r")], [x_info(("N", 0))],
                                      [y_info()]), ["input 'x' has a zero-size dimension"]),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_onnx_is_refused_by_name(case, tmp_path, capsys):
    make, causes = CASES[case]
    path = save(make(), tmp_path / "m.onnx")
    for command in ("show", "check"):
        refused(capsys, command, path, causes=causes)


def test_as_a_subprocess_too(tmp_path):
    path = save(matmul(_edited(raw_data=weight().raw_data[:10])), tmp_path / "m.onnx")
    refused_subprocess("show", path, causes=["initializer 'w' holds 10 bytes"])


def test_the_unbroken_models_import(tmp_path, capsys):
    """The builders are sound: without the mutation, each model shows with exit code 0."""
    from hostile_helpers import snnc

    for proto in (matmul(weight()), lif(), _relu_props({"snnc.timesteps": "4"}),
                  _fold([helper.make_node("Reshape", ["c", "s"], ["k"], name="rs")],
                        [_const("c", np.ones(4, np.float32)), _const("s", np.array([4]))])):
        code, out, err = snnc(capsys, "show", save(proto, tmp_path / "ok.onnx"))
        assert code == 0, err


def _external_file(tmp_path, location: str, data: bytes | None) -> str:
    """The model in tmp_path/model/, its weight's external data at ``location``."""
    folder = tmp_path / "model"
    folder.mkdir()
    if data is not None:
        (folder / location).write_bytes(data)
    return save(matmul(_external(location)), folder / "m.onnx")


def test_external_data_through_a_symlink_out_of_the_folder_is_refused(tmp_path, capsys):
    secret = tmp_path / "secret.data"
    secret.write_bytes(weight().raw_data)
    before = secret.read_bytes()
    path = _external_file(tmp_path, "w.data", None)
    (tmp_path / "model" / "w.data").symlink_to(secret)
    refused(capsys, "show", path, causes=["w.data", "external data"])
    assert secret.read_bytes() == before


def test_external_data_fifo_is_refused_without_blocking(tmp_path, capsys):
    import os

    path = _external_file(tmp_path, "w.data", None)
    os.mkfifo(tmp_path / "model" / "w.data")
    refused(capsys, "show", path, causes=["w.data", "not regular file"])


def test_short_external_data_is_refused_naming_the_initializer(tmp_path, capsys):
    path = _external_file(tmp_path, "w.data", weight().raw_data[:20])
    refused(capsys, "show", path, causes=["initializer 'w' holds 20 bytes", "need 12 values (48 bytes)"])


def test_undecodable_names_are_refused(tmp_path, capsys):
    data = matmul(weight()).SerializeToString().replace(b"MatMul", b"Mat\xfful")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    refused(capsys, "show", path, causes=["model.graph.node.op_type is not valid UTF-8"])


def test_an_output_that_is_the_input_is_refused(tmp_path, capsys):
    proto = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [x_info()],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)])
    refused(capsys, "show", save(proto, tmp_path / "m.onnx"), causes=["graph output 'x' is the graph input itself"])


def test_a_bias_of_the_wrong_shape_is_refused(tmp_path, capsys):
    conv = helper.make_node("Conv", ["x", "wc", "bc"], ["y"], name="conv", pads=[1, 1, 1, 1])
    proto = model([conv], [x_info(("N", 1, 6, 6))], [y_info()],
                  [numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "wc"),
                   numpy_helper.from_array(np.ones((72, 3), np.float32), "bc")])
    refused(capsys, "show", save(proto, tmp_path / "m.onnx"),
            causes=["node 'conv' (Conv)", "bias of shape [72, 3] should be [2]"])
