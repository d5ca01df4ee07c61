"""ONNX -> IR: every ONNX node accounted for, every intermediate tensor equal to
onnxruntime's, parameters carried over, JSON round trips, ANNs from other tools."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from snnc.ir import serialize
from snnc.ir.interpret import Interpreter, record
from snnc.ir.printer import graph_str
from snnc.models import spikformer, spikingformer
from snnc.nn import IF, LIF, RepeatEncoder
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_model, import_onnx

from ann_models import SEWBlock, SmallCNN, TinyViT, export_torchscript
from conftest import randomize_batchnorm
from onnx_helpers import run_ort


def random_snn(seed: int) -> nn.Module:
    """A random small SNN: conv/BN/neuron stages, an optional pool and residual, a head."""
    g = torch.Generator().manual_seed(seed)
    pick = lambda n: int(torch.randint(n, (1,), generator=g))  # noqa: E731
    neurons = [lambda: LIF(tau=2.0), lambda: LIF(tau=3.0, v_reset=None), lambda: IF(v_threshold=0.7),
               lambda: LIF(tau=1.5, decay_input=False, v_threshold=0.5)]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            c = 2 + pick(4)
            self.conv1, self.bn1, self.sn1 = nn.Conv2d(2, c, 3, padding=1, stride=1 + pick(2)), nn.BatchNorm2d(c), neurons[pick(4)]()
            self.pool = nn.MaxPool2d(2) if pick(2) else nn.Identity()
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, groups=c if pick(2) else 1)
            self.sn2 = neurons[pick(4)]()
            self.residual = bool(pick(2))
            self.fc = nn.Linear(c, 3)

        def forward(self, x):
            t, n = x.shape[:2]
            y = self.bn1(self.conv1(x.flatten(0, 1)))
            s = self.sn1(y.reshape(t, n, *y.shape[1:]))
            p = self.pool(s.flatten(0, 1))
            z = self.conv2(p)
            s2 = self.sn2(z.reshape(t, n, *z.shape[1:]))
            if self.residual:
                s2 = s2 + p.reshape(t, n, *p.shape[1:])
            return self.fc(s2.mean((3, 4))).mean(0)

    torch.manual_seed(seed)
    net = Net().eval()
    randomize_batchnorm(net, seed)
    return net


def _reference_models():
    torch.manual_seed(0)
    cases = []
    for build in (spikformer, spikingformer):
        model = build("tiny").eval()
        randomize_batchnorm(model)
        cases.append((build.__name__, model, (4, 2, 3, 16, 16)))
    for seed in range(4):
        cases.append((f"random-{seed}", random_snn(seed), (5, 2, 2, 8, 8)))
    return cases


CASES = _reference_models()


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def exported(request):
    name, model, shape = request.param
    return name, model, to_onnx(model, torch.rand(*shape)), shape


def test_every_onnx_node_is_accounted_for(exported):
    _, _, proto, _ = exported
    result = import_model(proto)
    seen = list(result.converted) + result.folded + result.aliased
    names = [n.name for n in proto.graph.node]
    assert sorted(seen) == sorted(names)
    # the network's nodes are converted; neurons and synaptic layers one to one
    for node in proto.graph.node:
        if node.op_type in ("Conv", "LIF", "IF", "BatchNormalization", "Gemm", "MaxPool", "MatMul"):
            assert node.name in result.converted, node.name


def test_parameters_carried_over_exactly(exported):
    _, _, proto, _ = exported
    result = import_model(proto)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    by_source = {}
    for node in result.graph.nodes:
        by_source.setdefault(node.source, []).append(node)
    checked = 0
    for onnx_node in proto.graph.node:
        (ir,) = [n for n in by_source.get(onnx_node.name, []) if n.op != "constant"] or [None]
        if onnx_node.op_type == "Conv":
            np.testing.assert_array_equal(ir.params["weight"], inits[onnx_node.input[1]])
            checked += 1
        elif onnx_node.op_type == "BatchNormalization":
            for key, tensor in zip(("scale", "bias", "mean", "var"), onnx_node.input[1:]):
                np.testing.assert_array_equal(ir.params[key], inits[tensor])
            checked += 1
        elif onnx_node.op_type == "Gemm":
            np.testing.assert_array_equal(ir.params["weight"], inits[onnx_node.input[1]])   # transB=1
            np.testing.assert_array_equal(ir.params["bias"], inits[onnx_node.input[2]])
            checked += 1
        elif onnx_node.op_type in ("LIF", "IF"):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in onnx_node.attribute}
            assert ir.attrs == attrs
            checked += 1
    assert checked >= 5


def test_every_intermediate_equals_onnxruntime(exported):
    _, _, proto, shape = exported
    result = import_model(proto)
    x = (np.random.default_rng(1).random(shape) * 2).astype(np.float32)
    tensors = [t for t, (value, pos) in result.values.items() if pos == 0]
    ort = run_ort(proto, {"x": x}, outputs=tensors)
    env = {**record(result.graph, {"x": x}), "x": x}
    spikes_differ = 0
    for tensor in tensors:
        value = result.graph.values[result.values[tensor][0]]
        mine, theirs = env[value.name], ort[tensor]
        theirs = theirs.reshape(mine.shape)
        if value.kind.is_binary and value.timed:
            # a spike may flip only where the membrane sat within float rounding of threshold
            spikes_differ += int((mine != theirs).sum())
        else:
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5, err_msg=tensor)
    assert spikes_differ == 0


def test_ir_matches_shapes_of_the_onnx_graph(exported):
    _, _, proto, shape = exported
    ir = import_model(proto).graph
    # the graph's input and output shapes are the ONNX ones without T and N (every
    # intermediate is checked against onnxruntime's values above)
    onnx_in = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[2:]]
    assert list(ir.values[ir.inputs[0]].shape) == onnx_in
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert list(ir.values[ir.outputs[0]].shape) == [d.dim_value for d in out_dims[1:]]


def test_json_round_trip_is_equal(exported):
    _, _, proto, _ = exported
    graph = import_onnx(proto)
    again = serialize.from_json(serialize.to_json(graph))
    assert again.same_as(graph)
    assert graph_str(again) == graph_str(graph)


def test_interpreter_equals_onnxruntime_end_to_end(exported):
    _, _, proto, shape = exported
    graph = import_onnx(proto)
    for t, n in [(shape[0], shape[1]), (3, 5)]:
        x = (np.random.default_rng(t).random((t, n, *shape[2:])) * 2).astype(np.float32)
        (mine,) = Interpreter(graph).run({"x": x}).values()
        (theirs,) = run_ort(proto, {"x": x}).values()
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic-batch", "fixed-batch"])
@pytest.mark.parametrize("build", [SmallCNN, TinyViT], ids=["cnn", "vit"])
def test_ann_from_another_tool(build, dynamic, tmp_path):
    torch.manual_seed(0)
    model = build().eval()
    randomize_batchnorm(model)
    path = tmp_path / "ann.onnx"
    export_torchscript(model, torch.rand(2, 3, 16, 16), path, dynamic_batch=dynamic)
    graph = import_onnx(path)
    text = graph_str(graph)
    # no time axis: every value is per sample (@N) or constant
    assert all(v.axes in ("N", "") for v in graph.values.values())
    ops = {n.op for n in graph.nodes}
    if build is SmallCNN:
        assert {"conv", "batchnorm", "relu", "maxpool", "global_avgpool", "linear"} <= ops
    else:
        assert {"layernorm", "softmax", "erf", "matmul", "linear", "concat", "gather"} <= ops
        assert "= softmax[" in text and "= layernorm[" in text
    x = np.random.default_rng(0).random((2, 3, 16, 16)).astype(np.float32)
    (mine,) = Interpreter(graph).run({"x": x}).values()
    np.testing.assert_allclose(mine, run_ort(onnx.load(path), {"x": x})["y"], rtol=1e-5, atol=1e-6)


def test_gelu_and_batchnorm_stay_visible_at_opset_20(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 14 * 14, 8),
                          nn.GELU(), nn.LayerNorm(8), nn.Softmax(-1)).eval()
    path = tmp_path / "m.onnx"
    export_torchscript(model, torch.rand(2, 3, 16, 16), path, opset=20)
    ops = [n.op for n in import_onnx(path).nodes]
    assert ops == ["conv", "batchnorm", "reshape", "linear", "gelu", "layernorm", "softmax"]


def test_repeat_encoder_becomes_repeat_time():
    model = nn.Sequential(RepeatEncoder(3), SEWBlock()).eval()
    graph = import_onnx(to_onnx(model, torch.rand(2, 2, 8, 8)))
    (first,) = [n for n in graph.nodes if n.op == "repeat_time"]
    assert first.attrs == {"timesteps": 3} and graph.meta["timesteps"] == 3
    assert graph.values[graph.inputs[0]].axes == "N"
    assert graph.values[first.outputs[0]].axes == "TN"
    x = np.random.default_rng(0).random((4, 2, 8, 8)).astype(np.float32)
    proto = to_onnx(model, torch.rand(2, 2, 8, 8))
    (mine,) = Interpreter(graph).run({"x": x}).values()
    (theirs,) = run_ort(proto, {"x": x}).values()
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_external_data_loads(tmp_path):
    model = random_snn(0)
    proto = to_onnx(model, torch.rand(2, 2, 2, 8, 8))
    path = tmp_path / "big.onnx"
    onnx.save_model(onnx.ModelProto.FromString(proto.SerializeToString()), path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="big.onnx.data", size_threshold=0)
    assert (tmp_path / "big.onnx.data").exists()
    graph = import_onnx(path)
    graph.name = "main"             # named after the file; otherwise identical
    assert graph.same_as(import_onnx(proto))


class _ConstantFirst(nn.Module):
    """``W @ x``: the weights on the left of a per-sample matrix (a token-mixing MLP)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 4))

    def forward(self, x):
        return torch.relu(self.w @ x)


def test_constant_times_values_imports_as_a_turned_linear(tmp_path):
    from onnx_helpers import run_ort

    export_torchscript(_ConstantFirst(), torch.rand(2, 4, 5), tmp_path / "wx.onnx")
    proto = onnx.load(str(tmp_path / "wx.onnx"))
    graph = import_onnx(proto)
    assert [n.op for n in graph.nodes][:3] == ["transpose", "linear", "transpose"]
    x = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    want = next(iter(run_ort(proto, {proto.graph.input[0].name: x}).values()))
    got = Interpreter(graph).run({graph.inputs[0]: x})[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
