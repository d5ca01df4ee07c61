"""The pass manager and ``fold-bn``; every pass and the default pipeline on the reference
models and random networks, against onnxruntime on the original file."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.ir import serialize
from snnc.ir.build import emit
from snnc.ir.errors import IRError, SnncError
from snnc.ir.graph import Graph, Value
from snnc.onnx.importer import import_onnx
from snnc.onnx.ir_to_onnx import graph_to_onnx
from snnc.passes import DEFAULT_PIPELINE, PASSES, PassLog, fold_batchnorm, register, run_pipeline

from onnx_helpers import neuron_nodes
from pass_models import compare_with_original, random_onnx, reference_onnx, run_unoptimized

MODELS = ["spikingformer", "spikformer", "random-0", "random-1", "random-2"]


def model(name: str):
    return reference_onnx(name) if not name.startswith("random") else random_onnx(int(name.split("-")[1]))


def feeds_for(proto, seed: int = 0) -> dict[str, np.ndarray]:
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[2:]]
    return {"x": (np.random.default_rng(seed).random((4, 3, *dims)) * 2).astype(np.float32)}


# -- every pass and the default pipeline, on every model ------------------------------------
@pytest.mark.parametrize("pipeline", ["fold-bn", "fold-scale", "remove-identity", "fold-constants", "dce",
                                      DEFAULT_PIPELINE], ids=lambda p: "default" if "," in p else p)
@pytest.mark.parametrize("name", MODELS)
def test_rewrite_equals_the_original_on_onnxruntime(name, pipeline, record_property):
    proto = model(name)
    graph = import_onnx(proto)
    before = serialize.to_json(graph)
    result = run_pipeline(graph, pipeline, verify_each=True)
    assert serialize.to_json(graph) == before, "a pass changed its input"
    changed, total = compare_with_original(proto, result, feeds_for(proto))
    print(f"{name} / {pipeline}: {changed} of {total} spikes changed")
    record_property("spikes_changed", f"{changed} of {total}")
    assert changed == 0, f"{changed} of {total} spikes changed"


@pytest.mark.parametrize("name", MODELS)
def test_fold_bn_folds_every_batchnorm(name):
    proto = model(name)
    in_file = sum(n.op_type == "BatchNormalization" for n in proto.graph.node)
    log = PassLog("fold-bn")
    graph = fold_batchnorm(import_onnx(proto), log)
    assert in_file >= 4
    assert log.counts == {"folded": in_file, "left": 0}
    assert not [n for n in graph.nodes if n.op == "batchnorm"]


def test_default_pipeline_on_spikingformer_reports_each_pass():
    logs = []
    graph = run_pipeline(import_onnx(model("spikingformer")), DEFAULT_PIPELINE, logs=logs)
    got = {r.name: r.counts for r in logs}
    assert got["fold-bn"] == {"folded": 11, "left": 0}
    assert got["fold-scale"] == {"into_threshold": 1, "into_weights": 0, "left": 0}     # 0.125: exact
    assert got["remove-identity"] == {"removed": 1}
    assert sum(r.nodes_removed for r in logs) == 14        # 11 BNs, the scale and its constant, an identity
    (attn,) = [n for n in graph.nodes if n.name.endswith("attn_lif")]
    assert attn.attrs["v_threshold"] == 4.0                   # 0.5 / 0.125
    assert {n.op for n in graph.nodes} >= {"conv", "lif", "matmul", "linear"}


# -- the appendix's formula is wrong, the variance is right ---------------------------------
def test_spikingformer_appendix_formula_changes_the_outputs():
    """Spikingformer's Appendix E folds with √(μ² + ε). That is the variance formula with
    σ² replaced by μ²: fold that graph and compare both with the model as written."""
    proto = model("spikingformer")
    graph = import_onnx(proto)
    appendix = graph.copy()
    for node in appendix.nodes:
        if node.op == "batchnorm":
            node.params = {**node.params, "var": node.params["mean"] ** 2}
    feeds = feeds_for(proto)
    right, total = compare_with_original(proto, fold_batchnorm(graph), feeds)
    assert right == 0
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        compare_with_original(proto, fold_batchnorm(appendix), feeds)
    # and the spikes: count them without the analog check
    folded = fold_batchnorm(appendix)
    names = {n.source: n.outputs[0] for n in folded.nodes if n.op == "lif"}
    pairs = [(n.output[0], names[n.name]) for n in neuron_nodes(proto)]
    ref = run_unoptimized(proto, feeds, [a for a, _ in pairs])
    wrong = run_unoptimized(graph_to_onnx(folded), feeds, [b for _, b in pairs])
    flipped = sum(int((ref[a] != wrong[b]).sum()) for a, b in pairs)
    print(f"appendix formula: {flipped} of {total} spikes changed; variance formula: {right}")
    assert flipped > total // 100


# -- fold-bn over random parameters: tiny variances, negative scales ------------------------
def _layer_case(kind: str, groups: int, in_per_group: int, channels: int):
    """(IR op, weight shape, input sample shape, torch function of (x, W, b)); one input
    channel per group is a depthwise convolution."""
    cin = in_per_group * groups
    if kind == "conv2d":
        return "conv", (channels, cin // groups, 3, 3), (cin, 5, 5), lambda x, w, b: F.conv2d(x, w, b, groups=groups)
    if kind == "conv1d":
        return "conv", (channels, cin // groups, 2), (cin, 6), lambda x, w, b: F.conv1d(x, w, b, groups=groups)
    if kind == "conv_transpose":
        return ("conv_transpose", (cin, channels // groups, 2, 2), (cin, 3, 3),
                lambda x, w, b: F.conv_transpose2d(x, w, b, stride=1, groups=groups))
    return "linear", (channels, 7), (7,), lambda x, w, b: F.linear(x, w, b)


finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["conv2d", "conv1d", "conv_transpose", "linear"]),
       groups=st.sampled_from([1, 2, 3]), in_per_group=st.integers(1, 2), per_group=st.integers(1, 2),
       with_bias=st.booleans(),
       eps=st.sampled_from([1e-5, 1e-3]), seed=st.integers(0, 2**16),
       gamma=st.lists(st.floats(-3, 3, **finite), min_size=6, max_size=6),
       var=st.lists(st.one_of(st.floats(0, 1e-6, **finite), st.floats(1e-3, 4, **finite)), min_size=6, max_size=6),
       mean=st.lists(st.floats(-2, 2, **finite), min_size=6, max_size=6),
       beta=st.lists(st.floats(-2, 2, **finite), min_size=6, max_size=6))
def test_fold_bn_property(kind, groups, in_per_group, per_group, with_bias, eps, seed, gamma, var, mean, beta):
    if kind == "linear":
        groups = 1
    channels = groups * per_group
    op, wshape, sample, torch_fn = _layer_case(kind, groups, in_per_group, channels)
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal(wshape).astype(np.float32)
    g = Graph("bn")
    g.add_input(Value("x", sample))
    params = {"weight": weight} | ({"bias": rng.standard_normal(channels).astype(np.float32)} if with_bias else {})
    layer = emit(g, op, ["x"], name="layer", params=params, attrs={"group": groups} if op != "linear" else {})
    bn_params = {k: np.asarray(v[:channels], np.float32) for k, v in
                 (("scale", gamma), ("bias", beta), ("mean", mean), ("var", var))}
    emit(g, "batchnorm", layer.outputs, name="bn", params=bn_params, attrs={"epsilon": eps})
    g.outputs = ["bn"]
    log = PassLog("fold-bn")
    folded = fold_batchnorm(g, log)
    assert log.counts == {"folded": 1, "left": 0} and [n.op for n in folded.nodes] == [op]
    # reference: the layer then BatchNorm, in float64 torch, written out here
    x = torch.from_numpy(rng.standard_normal((3, *sample)))
    b64 = torch.from_numpy(params["bias"]).double() if with_bias else None
    y = torch_fn(x, torch.from_numpy(weight).double(), b64)
    shape = (1, -1) + (1,) * (y.dim() - 2)
    p = {k: torch.from_numpy(v).double().reshape(shape) for k, v in bn_params.items()}
    ref = (y - p["mean"]) / torch.sqrt(p["var"] + float(np.float32(eps))) * p["scale"] + p["bias"]
    (node,) = folded.nodes
    w2 = torch.from_numpy(node.params["weight"]).double()
    b2 = torch.from_numpy(node.params["bias"]).double() if "bias" in node.params else None
    got = torch_fn(x, w2, b2)
    # the float32 rounding of W' and b' bounds the error by |W'|·|x| + |b'| (relative 1e-6)
    bound = torch_fn(x.abs(), w2.abs(), None if b2 is None else b2.abs()) * 1e-6 + 1e-9
    assert torch.all((got - ref).abs() <= bound)


# -- the pass manager -------------------------------------------------------------------------
def test_unknown_pass_is_named():
    g = import_onnx(model("random-0"))
    with pytest.raises(SnncError, match="unknown pass.*'fold-everything'.*available: dce, fold-bias, fold-bn"):
        run_pipeline(g, "fold-bn,fold-everything")
    with pytest.raises(SnncError, match="--print-after.*'fold'"):
        run_pipeline(g, "fold-bn", print_after="fold")


def test_verify_each_names_the_pass_that_broke_the_graph():
    def break_shapes(graph, log=None):
        g = graph.copy()
        g.values[g.nodes[0].outputs[0]].shape = (1, 2, 3)
        return g

    register("break-shapes")(break_shapes)
    try:
        g = import_onnx(model("random-0"))
        run_pipeline(g, "fold-bn,break-shapes")                     # unchecked: goes through
        with pytest.raises(IRError, match="pass 'break-shapes' left a malformed graph") as err:
            run_pipeline(g, "fold-bn,break-shapes,dce", verify_each=True)
        assert any("has shape (1, 2, 3)" in p for p in err.value.problems)
    finally:
        del PASSES["break-shapes"]


def test_an_error_in_a_pass_names_the_pass():
    def refuse(graph, log=None):
        raise SnncError("cannot fold this")

    register("refuse")(refuse)
    try:
        with pytest.raises(SnncError, match="^pass 'refuse': cannot fold this$"):
            run_pipeline(import_onnx(model("random-0")), "refuse")
    finally:
        del PASSES["refuse"]


def test_print_after_and_timings():
    out = io.StringIO()
    logs = []
    graph = import_onnx(model("random-1"))
    start = time.perf_counter()
    run_pipeline(graph, "remove-identity,fold-bn,dce", print_after=["fold-bn"],
                 timings=True, logs=logs, out=out)
    wall = time.perf_counter() - start
    text = out.getvalue()
    assert text.count("// -----// IR after") == 1 and "IR after fold-bn" in text
    assert "= batchnorm" not in text and "= conv_transpose" in text
    for name in ("remove-identity", "fold-bn", "dce", "total"):
        assert any(line.strip().endswith(name) for line in text.splitlines()), name
    assert [r.name for r in logs] == ["remove-identity", "fold-bn", "dce"]
    # each pass does work on a real graph (copying it at least), and the passes run one
    # after another inside the call: their times are positive and add up to at most the wall time
    assert all(r.seconds > 0 for r in logs) and sum(r.seconds for r in logs) <= wall
    everything = io.StringIO()
    run_pipeline(import_onnx(model("random-1")), "fold-bn,dce", print_after="all", out=everything)
    assert everything.getvalue().count("// -----// IR after") == 2


def test_fold_bn_leaves_what_it_cannot_fold_and_says_why():
    g = Graph("left")
    g.add_input(Value("x", (4, 5)))
    rng = np.random.default_rng(0)
    bn = lambda c: {"scale": np.ones(c, np.float32), "bias": np.zeros(c, np.float32),  # noqa: E731
                    "mean": np.zeros(c, np.float32), "var": np.ones(c, np.float32)}
    emit(g, "batchnorm", ["x"], name="bn_input", params=bn(4))                          # reads the input
    r = emit(g, "relu", ["bn_input"], name="relu").outputs[0]
    emit(g, "batchnorm", [r], name="bn_relu", params=bn(4))                             # reads a relu
    c = emit(g, "conv", ["bn_relu"], name="conv", params={"weight": rng.standard_normal((4, 4, 1)).astype(np.float32)})
    emit(g, "batchnorm", c.outputs, name="bn_shared", params=bn(4))
    emit(g, "add", ["conv", "bn_shared"], name="also_reads_conv")                       # conv read twice
    rows = emit(g, "linear", ["also_reads_conv"], name="rows", params={"weight": np.ones((4, 5), np.float32)})
    emit(g, "batchnorm", rows.outputs, name="bn_rows", params=bn(4))                    # axis 0 is not features
    g.outputs = ["bn_rows"]
    log = PassLog("fold-bn")
    out = fold_batchnorm(g, log)
    assert log.counts == {"folded": 0, "left": 4}
    reasons = dict(log.left)
    assert "graph input 'x'" in reasons["bn_input"]
    assert "'relu' (relu), not a conv" in reasons["bn_relu"]
    assert "also read by 2 nodes" in reasons["bn_shared"]
    assert "output features are the last axis" in reasons["bn_rows"]
    assert out.same_as(g)


def test_a_folded_graph_output_keeps_its_name():
    proto = model("random-2")
    g = import_onnx(proto)
    # make the last BatchNorm's output a graph output, as a truncated model would have it
    last_bn = [n for n in g.nodes if n.op == "batchnorm"][-1]
    g.outputs = g.outputs + [last_bn.outputs[0]]
    folded = fold_batchnorm(g)
    assert folded.outputs == g.outputs
    assert folded.producer(last_bn.outputs[0]).op == "linear"
    proto = graph_to_onnx(folded)
    assert [o.name for o in proto.graph.output] == g.outputs
