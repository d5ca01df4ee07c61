"""Every supported ONNX op, alone in a model: imported and run by the IR interpreter, it
gives onnxruntime's output. Plus the registry's shape and kind rules on their own."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from snnc.ir import kinds
from snnc.ir.build import infer_outputs
from snnc.ir.graph import Node, Value
from snnc.ir.interpret import Interpreter
from snnc.onnx.importer import import_model

from onnx_helpers import run_ort

R = np.random.default_rng(0)


def _c(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def _f(*shape):
    return R.standard_normal(shape).astype(np.float32)


def _i(*values):
    return np.array(values, dtype=np.int64)


# name: (op, attributes, per-sample input shape, constant inputs after x, opset)
CASES = {
    "conv2d-pads-strides-dilations": ("Conv", dict(pads=[1, 2, 1, 0], strides=[2, 1], dilations=[1, 2]), (4, 9, 9),
                                      [_f(6, 4, 3, 3), _f(6)]),
    "conv2d-groups": ("Conv", dict(group=2, pads=[1, 1, 1, 1]), (4, 6, 6), [_f(6, 2, 3, 3)]),
    "conv2d-depthwise": ("Conv", dict(group=4), (4, 6, 6), [_f(4, 1, 3, 3)]),
    "conv2d-same-upper": ("Conv", dict(auto_pad="SAME_UPPER", strides=[2, 2]), (3, 7, 7), [_f(5, 3, 3, 3)]),
    "conv1d": ("Conv", dict(pads=[1, 1]), (4, 10), [_f(8, 4, 3), _f(8)]),
    "conv-transpose": ("ConvTranspose", dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]), (4, 5, 5),
                       [_f(4, 3, 3, 3), _f(3)]),
    "conv-transpose-groups": ("ConvTranspose", dict(group=2, strides=[2, 1]), (4, 4, 4), [_f(4, 3, 2, 3)]),
    "gemm-transB": ("Gemm", dict(transB=1), (6,), [_f(4, 6), _f(4)]),
    "gemm-alpha-beta": ("Gemm", dict(alpha=0.5, beta=2.0), (6,), [_f(6, 4), _f(4)]),
    "matmul-weight": ("MatMul", {}, (3, 6), [_f(6, 5)]),
    "batchnorm": ("BatchNormalization", dict(epsilon=1e-3), (3, 4, 4),
                  [_f(3), _f(3), _f(3), np.abs(_f(3)) + 0.1]),
    "layernorm": ("LayerNormalization", dict(axis=-1, epsilon=1e-5), (5, 6), [_f(6), _f(6)]),
    "softmax": ("Softmax", dict(axis=-1), (3, 7), []),
    "softmax-axis1": ("Softmax", dict(axis=1), (3, 7), []),
    "maxpool-ceil": ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1), (2, 8, 8), []),
    "maxpool-pads-dilations": ("MaxPool", dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1], dilations=[2, 2]), (2, 7, 7),
                               []),
    "avgpool-exclude-pad": ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), (2, 7, 7),
                            []),
    "avgpool-include-pad": ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
                            (2, 5, 5), []),
    "avgpool-ceil": ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), (2, 5, 5), []),
    "global-avgpool": ("GlobalAveragePool", {}, (3, 4, 5), []),
    "global-maxpool": ("GlobalMaxPool", {}, (3, 4, 5), []),
    "relu": ("Relu", {}, (3, 4), []),
    "sigmoid": ("Sigmoid", {}, (3, 4), []),
    "tanh": ("Tanh", {}, (3, 4), []),
    "exp": ("Exp", {}, (3, 4), []),
    "neg": ("Neg", {}, (3, 4), []),
    "abs": ("Abs", {}, (3, 4), []),
    "erf": ("Erf", {}, (3, 40), []),
    "gelu": ("Gelu", {}, (3, 40), [], 20),
    "gelu-tanh": ("Gelu", dict(approximate="tanh"), (3, 40), [], 20),
    "clip": ("Clip", {}, (3, 4), [np.float32(-0.5), np.float32(0.7)]),
    "identity": ("Identity", {}, (3, 4), []),
    "dropout": ("Dropout", {}, (3, 4), []),
    "add-broadcast": ("Add", {}, (3, 4), [_f(1, 3, 1)]),
    "sub-scalar": ("Sub", {}, (3, 4), [np.float32(0.25)]),
    "mul-channel": ("Mul", {}, (3, 4, 2), [_f(3, 1, 1)]),
    "div": ("Div", {}, (3, 4), [np.float32(3.0)]),
    "max": ("Max", {}, (3, 4), [_f(4)]),
    "min": ("Min", {}, (3, 4), [_f(4)]),
    "reshape": ("Reshape", {}, (3, 4), [_i(0, 2, 6)]),
    "flatten": ("Flatten", dict(axis=1), (3, 4, 2), []),
    "transpose": ("Transpose", dict(perm=[0, 2, 3, 1]), (3, 4, 2), []),
    "concat": ("Concat", dict(axis=-1), (3, 4), ["x"]),
    "squeeze": ("Squeeze", {}, (3, 1, 4), [_i(2)]),
    "unsqueeze": ("Unsqueeze", {}, (3, 4), [_i(-1)]),
    "slice-negative-step": ("Slice", {}, (6, 5), [_i(5, 4), _i(0, 0), _i(1, 2), _i(-2, -1)]),
    "slice-flip": ("Slice", {}, (6, 5), [_i(-1), _i(-(2**63)), _i(1), _i(-1)]),
    "resize-fractional": ("Resize", dict(mode="nearest"), (2, 5, 5),
                          ["", np.array([1, 1, 1.5, 0.7], np.float32)]),
    "gather": ("Gather", dict(axis=2), (3, 5), [_i(4, 0, 2)]),
    "pad-constant": ("Pad", {}, (3, 4), [_i(0, 1, 2, 0, 0, 3), np.float32(0.5)]),
    "pad-reflect": ("Pad", dict(mode="reflect"), (3, 4), [_i(0, 0, 1, 0, 0, 2)]),
    "pad-edge": ("Pad", dict(mode="edge"), (2, 3, 4), [_i(0, 0, 1, 1, 0, 0, 2, 1)]),
    "resize-nearest": ("Resize", dict(mode="nearest"), (2, 3, 3),
                       ["", np.array([1, 1, 2, 2], np.float32)]),
    "expand": ("Expand", {}, (3, 1), [_i(1, 3, 4)]),
    "tile": ("Tile", {}, (3, 2), [_i(1, 2, 3)]),
    "reduce-mean": ("ReduceMean", dict(keepdims=0), (3, 4, 5), [_i(2, 3)]),
    "reduce-sum-keepdims": ("ReduceSum", dict(keepdims=1), (3, 4), [_i(-1)]),
    "reduce-max": ("ReduceMax", dict(keepdims=0), (3, 4), [_i(1)]),
    "cast": ("Cast", dict(to=TensorProto.FLOAT16), (3, 4), []),
    "hard-sigmoid": ("HardSigmoid", dict(alpha=0.3, beta=0.4), (3, 40), []),
    "hard-sigmoid-default": ("HardSigmoid", {}, (3, 40), []),
    "hard-swish": ("HardSwish", {}, (3, 40), []),
    "equal": ("Equal", {}, (3, 4), ["x"]),
    "less": ("Less", {}, (3, 4), [_f(4)]),
    "greater": ("Greater", {}, (3, 4), [_f(3, 1)]),
    "less-or-equal": ("LessOrEqual", {}, (3, 4), [np.float32(0.0)]),
    "greater-or-equal": ("GreaterOrEqual", {}, (3, 4), [_f(4)]),
}

_BOOL_OUT = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not"}


def _case_model(op, attrs, sample, consts, opset=18):
    inputs, inits = ["x"], []
    for i, value in enumerate(consts):
        if isinstance(value, str):
            inputs.append(value)
            continue
        inits.append(_c(f"c{i}", value))
        inputs.append(f"c{i}")
    node = helper.make_node(op, inputs, ["y"], name=op.lower(), **attrs)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *sample])
    y_type = attrs.get("to") if op == "Cast" else TensorProto.BOOL if op in _BOOL_OUT else TensorProto.FLOAT
    y = helper.make_tensor_value_info("y", y_type, None)
    model = helper.make_model(helper.make_graph([node], "op", [x], [y], initializer=inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


@pytest.mark.parametrize("case", CASES)
def test_single_op_matches_onnxruntime(case):
    op, attrs, sample, consts, *opset = CASES[case]
    model = _case_model(op, attrs, sample, consts, *opset)
    graph = import_model(model).graph
    x = R.standard_normal((3, *sample)).astype(np.float32)
    (mine,) = Interpreter(graph).run({"x": x}).values()
    theirs = run_ort(model, {"x": x})["y"]
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    np.testing.assert_allclose(mine, theirs, rtol=2e-6, atol=2e-6)


def test_matmul_of_two_network_values():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["x", "xt"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "mm", [x], [y]), opset_imports=[helper.make_opsetid("", 18)])
    graph = import_model(model).graph
    assert [n.op for n in graph.nodes] == ["transpose", "matmul"]
    v = R.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(next(iter(Interpreter(graph).run({"x": v}).values())),
                               run_ort(model, {"x": v})["y"], rtol=1e-6, atol=1e-6)


# -- the registry's rules on their own --------------------------------------------------

def _infer(op, ins, attrs=None, params=None):
    node = Node("n", op, [v.name for v in ins], ["out"], attrs or {}, params or {})
    return infer_outputs(node, ins)[0]


SPIKES = Value("s", (4, 8), kind=kinds.SPIKE)


def test_add_of_spikes_is_a_count():
    out = _infer("add", [SPIKES, Value("t", (4, 8), kind=kinds.SPIKE)])
    assert out.kind == kinds.count(2) and out.kind.name == "count(2)"
    assert _infer("add", [out, Value("c", (4, 8), kind=kinds.count(3))]).kind.name == "count(5)"


def test_spike_preserving_ops_keep_the_kind():
    assert _infer("maxpool", [Value("s", (2, 4, 4), kind=kinds.SPIKE)], {"kernel_shape": [2, 2]}).kind == kinds.SPIKE
    assert _infer("reshape", [SPIKES], {"shape": [32]}).kind == kinds.SPIKE
    assert _infer("transpose", [SPIKES], {"perm": [1, 0]}).kind == kinds.SPIKE


def test_synaptic_and_normalising_ops_are_analog():
    conv = _infer("conv", [Value("s", (2, 4, 4), kind=kinds.SPIKE)], params={"weight": np.ones((3, 2, 1, 1), np.float32)})
    assert conv.kind == kinds.ANALOG and conv.shape == (3, 4, 4)
    assert _infer("avgpool", [Value("s", (2, 4, 4), kind=kinds.SPIKE)], {"kernel_shape": [2, 2]}).kind == kinds.ANALOG


def test_matmul_of_spikes_counts_the_inner_dimension():
    q, k = Value("q", (2, 16, 8), kind=kinds.SPIKE), Value("k", (2, 8, 16), kind=kinds.SPIKE)
    assert _infer("matmul", [q, k]).kind.name == "count(8)"


def test_scaling_a_count_makes_graded_levels():
    scale = Value("c", (), kind=kinds.Kind.of([0.125]), axes="")
    out = _infer("mul", [Value("a", (4,), kind=kinds.count(2)), scale])
    assert out.kind.levels == frozenset({0.0, 0.125, 0.25})


def test_neuron_makes_spikes_and_needs_time():
    assert _infer("lif", [Value("x", (4,))]).kind == kinds.SPIKE
    with pytest.raises(Exception, match="no time axis"):
        _infer("lif", [Value("x", (4,), axes="N")])


def test_bad_shapes_are_rejected_with_the_node_name():
    with pytest.raises(Exception, match="node 'n' \\(conv\\).*channels"):
        _infer("conv", [Value("x", (3, 4, 4))], params={"weight": np.ones((2, 5, 1, 1), np.float32)})


def _mask_model(nodes, inits=()):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph(nodes, "mask", [x], [y], initializer=list(inits)),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _check(model, x):
    graph = import_model(model).graph
    (mine,) = Interpreter(graph).run({"x": x}).values()
    theirs = run_ort(model, {"x": x})["y"]
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    np.testing.assert_allclose(mine, theirs, rtol=2e-6, atol=2e-6)
    return graph


def test_boolean_logic_selects_with_where():
    """Comparisons, And/Or/Xor/Not on their bool results, and Where on a bool condition
    (what transformers' attention-mask code writes)."""
    nodes = [helper.make_node("Greater", ["x", "lo"], ["gt"]),
             helper.make_node("Less", ["x", "hi"], ["lt"]),
             helper.make_node("And", ["gt", "lt"], ["in"]),
             helper.make_node("Equal", ["x", "x"], ["same"]),
             helper.make_node("Not", ["in"], ["out"]),
             helper.make_node("Or", ["out", "same"], ["any"]),
             helper.make_node("Xor", ["any", "in"], ["cond"]),
             helper.make_node("Where", ["cond", "x", "fill"], ["y"])]
    inits = [_c("lo", np.float32(-0.5)), _c("hi", _f(4)), _c("fill", np.float32(-1e4))]
    graph = _check(_mask_model(nodes, inits), R.standard_normal((5, 3, 4)).astype(np.float32))
    assert [n.op for n in graph.nodes if n.op != "constant"] == ["greater", "less", "and", "equal", "not", "or",
                                                                  "xor", "where"]



def test_range_and_constant_of_shape_fold_to_constants():
    """Range and ConstantOfShape on constants (and on the input's shape) fold away."""
    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["r"]),        # [0, 1, 2, 3]
             helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
             helper.make_node("Shape", ["x"], ["shape"], start=1),
             helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                              value=numpy_helper.from_array(np.array([2.0], np.float32))),
             helper.make_node("Mul", ["x", "ones"], ["x2"]),
             helper.make_node("Add", ["x2", "rf"], ["y"])]
    inits = [_c("start", np.int64(0)), _c("limit", np.int64(4)), _c("delta", np.int64(1))]
    graph = _check(_mask_model(nodes, inits), R.standard_normal((2, 3, 4)).astype(np.float32))
    assert [n.op for n in graph.nodes if n.op != "constant"] == ["mul", "add"]


# -- the ANN zoo's ops, as PyTorch's TorchScript exporter writes them ---------------------

def test_transformers_attention_mask_imports(tmp_path, capsys):
    import torch
    from ann_models import MaskedAttention
    from snnc.cli import main

    path = tmp_path / "mask.onnx"
    ids = torch.tensor([[5, 0, 120, 7, 99], [0, 3, 4, 200, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(MaskedAttention(), (ids, torch.randn(2, 5, 6)), str(path), dynamo=False,
                          opset_version=17, input_names=["ids", "x"], output_names=["y", "attn"],
                          dynamic_axes={"ids": {0: "N"}, "x": {0: "N"}, "y": {0: "N"}, "attn": {0: "N"}})
    main(["show", str(path)])
    shown = capsys.readouterr().out
    for op in ("equal(", "not(", "less(", "and(", "where(", "softmax["):
        assert op in shown
    model = onnx.load(path)
    assert {"Range", "Where", "And", "Not", "Less", "Equal"} <= {n.op_type for n in model.graph.node}
    graph = import_model(model).graph
    feeds = {"ids": np.array([[5, 0, 120, 7, 99], [0, 3, 4, 200, 1], [1, 1, 1, 1, 0]]),
             "x": R.standard_normal((3, 5, 6)).astype(np.float32)}
    mine, theirs = Interpreter(graph).run(feeds), run_ort(model, feeds)
    for out in ("y", "attn"):
        np.testing.assert_allclose(mine[out], theirs[out], rtol=1e-5, atol=1e-5)


def test_mobilenetv3_block_imports(tmp_path, capsys):
    import torch
    from ann_models import MobileNetV3Block, export_torchscript
    from snnc.cli import main

    path = tmp_path / "mbv3.onnx"
    torch.manual_seed(0)
    export_torchscript(MobileNetV3Block(), torch.randn(1, 8, 6, 6), path)
    main(["show", str(path)])
    shown = capsys.readouterr().out
    assert "hard_swish(" in shown and "hard_sigmoid[alpha=0.166667]" in shown
    model = onnx.load(path)
    graph = import_model(model).graph
    x = R.standard_normal((3, 8, 6, 6)).astype(np.float32)
    (mine,) = Interpreter(graph).run({"x": x}).values()
    np.testing.assert_allclose(mine, run_ort(model, {"x": x})["y"], rtol=1e-5, atol=1e-5)
