"""Every common op's registry reference (the numpy ``run`` the interpreter, the simulator
and every analysis trust) against onnxruntime, over random shapes and attributes
(hypothesis). Each case is a one-node IR graph; onnxruntime runs what
:func:`snnc.onnx.ir_to_onnx.graph_to_onnx` writes for it, so a disagreement is a bug in
the reference or in the op's lowering — either way, a bug."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnx_helpers import run_ort
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.interpret import Interpreter
from snnc.onnx.ir_to_onnx import graph_to_onnx

UNARY = ["relu", "neg", "abs", "sigmoid", "tanh", "exp", "erf", "gelu", "hard_sigmoid", "hard_swish",
         "floor", "ceil", "sign", "sqrt", "log", "reciprocal"]
POSITIVE = {"sqrt", "log", "reciprocal"}          # their domain: x > 0
BINARY = ["add", "sub", "mul", "div", "max", "min"]
REDUCE = ["reduce_mean", "reduce_sum", "reduce_max", "reduce_l2"]
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def _check(build, shape, data, dtype=np.float32, rtol=1e-5, atol=1e-6, axes="N"):
    graph = Graph("prop")
    graph.add_input(Value("x", shape, axes=axes))
    out = build(graph, "x")
    graph.outputs = [out]
    want = next(iter(run_ort(graph_to_onnx(graph), {"x": data}).values()))
    got = Interpreter(graph).run({"x": data})[out]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def _data(draw, shape, batch=3, positive=False):
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.normal(0, 2, (batch, *shape)).astype(np.float32)
    return np.abs(x) + 0.1 if positive else x


@SETTINGS
@given(st.sampled_from(UNARY), shapes, st.data())
def test_unary_ops(op, shape, data):
    x = _data(data.draw, shape, positive=op in POSITIVE)
    # tanh-style ops differ in the last bits between numpy and onnxruntime's vectorised maths
    _check(lambda g, v: emit(g, op, [v], name="y").outputs[0], shape, x, rtol=2e-5, atol=2e-6)


@SETTINGS
@given(st.sampled_from(BINARY), shapes, st.data())
def test_binary_ops_with_a_broadcast_constant(op, shape, data):
    x = _data(data.draw, shape)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    cshape = tuple(n if data.draw(st.booleans()) else 1 for n in shape[-data.draw(st.integers(1, len(shape))):])
    c = rng.normal(0, 2, cshape).astype(np.float32)
    if op == "div":
        c = np.where(np.abs(c) < 0.1, 0.5, c).astype(np.float32)

    def build(g, v):
        k = emit(g, "constant", [], name="c", params={"value": c}).outputs[0]
        return emit(g, op, [v, k], name="y").outputs[0]
    _check(build, shape, x)


@SETTINGS
@given(st.sampled_from(REDUCE), shapes, st.data())
def test_reductions(op, shape, data):
    x = _data(data.draw, shape)
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape), unique_by=lambda a: a % len(shape)))
    keep = data.draw(st.sampled_from([0, 1]))
    _check(lambda g, v: emit(g, op, [v], name="y", attrs={"axes": axes, "keepdims": keep}).outputs[0], shape, x,
           rtol=1e-5, atol=1e-5)


@SETTINGS
@given(shapes, st.data())
def test_transpose_and_softmax(shape, data):
    x = _data(data.draw, shape)
    perm = data.draw(st.permutations(list(range(len(shape)))))
    _check(lambda g, v: emit(g, "transpose", [v], name="y", attrs={"perm": list(perm)}).outputs[0], shape, x)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    _check(lambda g, v: emit(g, "softmax", [v], name="y", attrs={"axis": axis}).outputs[0], shape, x)


@SETTINGS
@given(st.sampled_from(["relu", "sigmoid", "add"]), shapes, st.data())
def test_timed_values_fold_time_into_the_batch(op, shape, data):
    """The same ops on [T, N, ...] values: the lowering reshapes around each op."""
    x = _data(data.draw, shape, batch=2)           # T = 3 steps of 2 samples
    x = np.stack([x * t for t in (1.0, -0.5, 2.0)]).astype(np.float32)
    if op == "add":
        def build(g, v):
            k = emit(g, "constant", [], name="c", params={"value": np.float32(0.5)}).outputs[0]
            return emit(g, "add", [v, k], name="y").outputs[0]
    else:
        def build(g, v):
            return emit(g, op, [v], name="y").outputs[0]
    _check(build, shape, x, axes="TN")


def test_torch_normalize_imports_as_reduce_l2_at_opsets_17_and_18(tmp_path):
    """``F.normalize`` exports ReduceL2 (axes an attribute at 17, an input at 18)."""
    from conftest import require

    from snnc.onnx.importer import import_onnx

    torch = require("torch")

    class Normalize(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.normalize(x, dim=-1) * 2

    x = np.random.default_rng(0).random((3, 5, 8)).astype(np.float32)
    for opset in (17, 18):
        path = tmp_path / f"n{opset}.onnx"
        torch.onnx.export(Normalize(), (torch.from_numpy(x[:2]),), str(path), input_names=["x"],
                          opset_version=opset, dynamo=False, dynamic_axes={"x": {0: "n"}})
        import onnx

        proto = onnx.load(str(path))
        graph = import_onnx(proto)
        assert "reduce_l2" in [n.op for n in graph.nodes]
        want = next(iter(run_ort(proto, {"x": x}).values()))
        np.testing.assert_allclose(Interpreter(graph).run({"x": x})[graph.outputs[0]], want, rtol=1e-5, atol=1e-6)
