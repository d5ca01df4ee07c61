"""The batch axis tracked through permutes, and fixed-batch / dynamo-exported ANNs.

Attention code moves the batch axis inwards (``qkv.permute(2, 0, 3, 1, 4)`` is
``[3, N, heads, L, d]``) and splits q, k, v off its first axis; files exported with a
fixed batch write that batch into their constants. Each model here is exported by
torch.onnx and must import, show, and run in the IR interpreter equal to onnxruntime.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from snnc.ir.interpret import Interpreter
from snnc.onnx.importer import import_model, import_onnx
from snnc.onnx.ir_to_onnx import graph_to_onnx

from ann_models import PermuteAttention, PermuteViT, SmallCNN, TimmAttention, TimmBlock, export_torchscript
from conftest import randomize_batchnorm
from onnx_helpers import run_ort


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, 16, 16)).astype(np.float32)


def _interpret(graph, x: np.ndarray) -> np.ndarray:
    (out,) = Interpreter(graph).run({"x": x}).values()
    return out


def export_dynamo(model: nn.Module, x: torch.Tensor, path) -> None:
    """The default (dynamo) exporter with a fixed batch, as ``torch.onnx.export`` does by default."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (x,), str(path), dynamo=True, input_names=["x"], output_names=["y"])


@pytest.mark.parametrize("attention", [PermuteAttention, TimmAttention], ids=["permute-unpack", "timm"])
def test_attention_with_the_batch_axis_second(attention, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "vit.onnx"
    export_torchscript(PermuteViT(attention), torch.rand(2, 3, 16, 16), path)
    proto = onnx.load(path)
    result = import_model(proto)
    # the permuted qkv really holds its batch second, and q, k, v split off axis 0 keep it there
    permute = next(n for n in proto.graph.node if n.op_type == "Transpose"
                   and list(n.attribute[0].ints) == [2, 0, 3, 1, 4])
    assert result.values[permute.output[0]][1] == 1
    (split,) = [n for n in proto.graph.node if n.input and n.input[0] == permute.output[0]]
    assert split.op_type == "Split" and all(result.values[o][1] == 1 for o in split.output)
    graph = result.graph
    assert all(v.axes in ("N", "") for v in graph.values.values())
    qkv = graph.values[result.values[permute.output[0]][0]]
    assert qkv.shape == (3, 4, 17, 8)        # [3, heads, L, d] per sample
    written = graph_to_onnx(graph)            # and written back as ONNX, batch-first throughout
    for n in (2, 5):                          # the IR is per sample: any batch size
        x = _images(n, seed=n)
        theirs = run_ort(proto, {"x": x})["y"]
        np.testing.assert_allclose(_interpret(graph, x), theirs, rtol=1e-5, atol=1e-5)
        (again,) = run_ort(written, {"x": x}).values()
        np.testing.assert_allclose(again, theirs, rtol=1e-5, atol=1e-5)
    shown = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "= softmax[axis=2]" in shown.stdout          # [heads, L, L] per sample
    assert "%blocks.0.attn.transpose = transpose[perm=(1,2,0,3)]" in shown.stdout   # [3, heads, L, d]


def test_timm_block_on_tokens(tmp_path):
    """A timm ViT block (LayerScale, qk-norm, fused attention) on ``[N, L, C]`` tokens."""
    torch.manual_seed(1)
    path = tmp_path / "block.onnx"
    block = TimmBlock(32, 4).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(block, (torch.rand(2, 9, 32),), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    graph = import_onnx(path)
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 9, 32)).astype(np.float32)
        expected = block(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(_interpret(graph, x), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_interpret(graph, x), run_ort(onnx.load(path), {"x": x})["y"],
                                   rtol=1e-5, atol=1e-5)


def _check_fixed_batch(path, batch: int) -> None:
    """The file runs at its own batch only; the IR at any: equal to onnxruntime per chunk."""
    proto = onnx.load(path)
    graph = import_onnx(path)
    assert all(v.axes in ("N", "") for v in graph.values.values())
    x = _images(2 * batch, seed=3)
    mine = _interpret(graph, x)
    theirs = np.concatenate([run_ort(proto, {"x": x[i:i + batch]})["y"] for i in (0, batch)])
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("build", [SmallCNN, lambda: PermuteViT(PermuteAttention)], ids=["cnn", "vit"])
def test_fixed_batch_torchscript(build, tmp_path):
    torch.manual_seed(0)
    model = build().eval()
    randomize_batchnorm(model)
    path = tmp_path / "fixed.onnx"
    export_torchscript(model, torch.rand(2, 3, 16, 16), path, dynamic_batch=False)
    _check_fixed_batch(path, 2)


@pytest.fixture(scope="module")
def dynamo_vit(tmp_path_factory):
    """The permute-attention ViT, exported by the dynamo exporter at a fixed batch of 2."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("dynamo") / "vit.onnx"
    export_dynamo(PermuteViT(PermuteAttention), torch.rand(2, 3, 16, 16), path)
    return path


def test_fixed_batch_dynamo_cnn(tmp_path):
    """``torch.onnx.export(..., dynamo=True)`` at batch 1 (torch.export specialises it):
    the batch is baked into a reshape target."""
    torch.manual_seed(0)
    model = SmallCNN().eval()
    randomize_batchnorm(model)
    path = tmp_path / "dynamo.onnx"
    export_dynamo(model, torch.rand(1, 3, 16, 16), path)
    _check_fixed_batch(path, 1)


def test_fixed_batch_dynamo_vit(dynamo_vit):
    """Batch 2 baked into reshape targets and a constant-folded, expanded class token."""
    _check_fixed_batch(dynamo_vit, 2)


def test_dynamo_module_names(dynamo_vit, tmp_path):
    """IR names come from the dynamo exporter's module scopes (node metadata), the same
    module paths the TorchScript exporter writes into its node names."""
    graph = import_onnx(dynamo_vit)
    assert not [n.name for n in graph.nodes if n.name.startswith("node_")]
    torch.manual_seed(0)
    legacy = tmp_path / "legacy.onnx"
    export_torchscript(PermuteViT(PermuteAttention), torch.rand(2, 3, 16, 16), legacy)
    layers = {"conv", "linear", "layernorm", "softmax", "matmul"}
    mine = [(n.op, n.name) for n in graph.nodes if n.op in layers]
    assert mine == [(n.op, n.name) for n in import_onnx(legacy).nodes if n.op in layers]
    assert ("softmax", "blocks.1.attn.softmax") in mine and ("linear", "blocks.0.mlp.fc2.matmul") in mine
    assert ("conv", "patch_embed") in mine and ("linear", "head") in mine


def test_fixed_batch_that_mixes_samples_is_refused(tmp_path):
    """Centering over the batch (a fixed batch of 2) mixes samples: refused by name."""

    class Mix(nn.Module):
        def forward(self, x):
            return x - x.mean(0, keepdim=True)

    path = tmp_path / "mix.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Mix(), (torch.rand(2, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"])
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("snnc: error:") and len(out.stderr.strip().splitlines()) == 1
    assert "ReduceMean" in out.stderr and "N axis" in out.stderr


def test_timm_attention_from_dynamo_merges_batch_and_heads(tmp_path):
    """The dynamo exporter writes scaled_dot_product_attention with k reshaped to
    ``[N*heads, L, d]`` (the batch merged with the heads, batch-major) and back; exported
    with a dynamic batch, the IR equals onnxruntime at two batch sizes."""
    torch.manual_seed(2)
    path = tmp_path / "timm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(PermuteViT(TimmAttention, depth=1).eval(), (torch.rand(2, 3, 16, 16),), str(path),
                          dynamo=True, input_names=["x"], output_names=["y"],
                          dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    proto = onnx.load(path)
    result = import_model(proto)
    reshaped = [n.output[0] for n in proto.graph.node if n.op_type == "Reshape"]
    for n in (1, 3):
        x = _images(n, seed=n)
        theirs = run_ort(proto, {"x": x}, outputs=reshaped)
        # the export still merges the batch with the heads: [N, 4, 17, 8] -> [N*4, 17, 8]
        assert any(theirs[t].shape == (4 * n, 17, 8) for t in reshaped)
        np.testing.assert_allclose(_interpret(result.graph, x), theirs["y"], rtol=1e-5, atol=1e-5)


class _RowsGemm(nn.Module):
    """``x.reshape(-1, C)`` then a Linear: a Gemm on rows ``[N*L, C]``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        n, l, c = x.shape
        return self.fc(x.reshape(-1, c)).reshape(n, l, 5).softmax(-1)


class _SoftmaxAcrossSamples(nn.Module):
    def forward(self, x):
        return x.reshape(-1).softmax(0)


def _export_tokens(model: nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.rand(2, 6, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})


def test_rows_merged_with_the_batch(tmp_path):
    torch.manual_seed(3)
    path = tmp_path / "rows.onnx"
    model = _RowsGemm()
    _export_tokens(model, path)
    graph = import_onnx(path)
    assert [(n.op, graph.values[n.outputs[0]].shape) for n in graph.nodes] == [("linear", (6, 5)),
                                                                                ("softmax", (6, 5))]
    for n in (1, 3):
        x = np.random.default_rng(n).random((n, 6, 8)).astype(np.float32)
        expected = model(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(_interpret(graph, x), expected, rtol=1e-5, atol=1e-6)


def test_softmax_across_the_merged_batch_is_refused(tmp_path):
    path = tmp_path / "across.onnx"
    _export_tokens(_SoftmaxAcrossSamples(), path)
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("snnc: error:") and "Softmax" in out.stderr and "batch" in out.stderr


def test_output_with_the_batch_inside_is_refused(tmp_path):
    """An output laid out ``[3, N, ...]`` would come back batch-first from the IR: refused."""

    class Qkv(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], 6, 2, 4).permute(2, 0, 1, 3)

    path = tmp_path / "qkv.onnx"
    _export_tokens(Qkv(), path)
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("snnc: error: output 'y'") and "[2, N, 6, 4]" in out.stderr


class _SpikingAttention(nn.Module):
    """Spiking attention on ``[T, N, L, C]``: q, k, v unpacked off
    ``permute(3, 0, 1, 4, 2, 5)`` (``[3, T, N, heads, L, d]``), each through a LIF."""

    def __init__(self, dim: int = 16, heads: int = 2):
        super().__init__()
        from snnc.nn import LIF

        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_lif, self.k_lif, self.v_lif = LIF(tau=2.0), LIF(tau=2.0), LIF(tau=2.0)

    def forward(self, x):
        t, n, l, c = x.shape
        q, k, v = self.qkv(x).reshape(t, n, l, 3, self.heads, c // self.heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = self.q_lif(q), self.k_lif(k), self.v_lif(v)
        return ((q @ k.transpose(-2, -1)) * 0.125 @ v).transpose(2, 3).reshape(t, n, l, c)


def test_time_and_batch_tracked_together():
    """An SNN (snnc's exporter, dynamic T and N): the [T, N] block sits second after the
    permute, the neurons read it back at the front; spikes and output equal onnxruntime."""
    from snnc.onnx.export import to_onnx

    torch.manual_seed(0)
    proto = to_onnx(_SpikingAttention().eval(), torch.rand(2, 2, 5, 16))
    result = import_model(proto)
    assert sum(pos == 1 for _, pos in result.values.values()) >= 4     # the permute and its 3 slices
    assert [n.op for n in result.graph.nodes].count("lif") == 3
    name = proto.graph.input[0].name
    for t, n in ((2, 3), (4, 1)):
        x = 2 * np.random.default_rng(t).random((t, n, 5, 16)).astype(np.float32)
        (mine,) = Interpreter(result.graph).run({name: x}).values()
        (theirs,) = run_ort(proto, {name: x}).values()
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_fixed_batch_one_with_a_constant_channel(tmp_path):
    """Batch 1 fixed, 3 channels (the second probe's batch is 3 too): a constant channel
    joined on axis 1 is read at the probe's batch on axis 0 only."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    extra = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Concat", ["x", "c"], ["cat"], axis=1), helper.make_node("Relu", ["cat"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 4])],
        [numpy_helper.from_array(extra, "c")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "cat.onnx"
    onnx.save(proto, path)
    ir = import_onnx(path)
    assert ir.values[ir.outputs[0]].shape == (4, 4, 4)
    x = rng.standard_normal((3, 3, 4, 4)).astype(np.float32)
    (mine,) = Interpreter(ir).run({"x": x}).values()
    expected = np.maximum(np.concatenate([x, np.broadcast_to(extra, (3, 1, 4, 4))], axis=1), 0)
    np.testing.assert_allclose(mine, expected)
    np.testing.assert_allclose(mine[:1], run_ort(proto, {"x": x[:1]})["y"])


class _Encoder(nn.Module):
    """``nn.TransformerEncoderLayer`` (batch first): ``nn.MultiheadAttention`` works
    sequence-first and flattens ``[L, N, E]`` to rows ``[L*N, E]`` (the batch merged minor)."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.layer(x)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript-dynamic", "dynamo-fixed"])
def test_torch_transformer_encoder_layer(dynamo, tmp_path):
    torch.manual_seed(4)
    model = _Encoder().eval()
    path = tmp_path / "enc.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, (torch.rand(2, 6, 16),), str(path), dynamo=True, input_names=["x"],
                              output_names=["y"])
        else:
            torch.onnx.export(model, (torch.rand(2, 6, 16),), str(path), dynamo=False, opset_version=17,
                              input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    proto = onnx.load(path)
    graph = import_onnx(path)
    floats = {v.name for v in onnx.shape_inference.infer_shapes(proto).graph.value_info
              if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    reshaped = [n.output[0] for n in proto.graph.node if n.op_type == "Reshape" and n.output[0] in floats]
    x = np.random.default_rng(4).standard_normal((4, 6, 16)).astype(np.float32)
    chunks = [x[:2], x[2:]] if dynamo else [x[:1], x[1:]]
    for chunk in chunks:
        theirs = run_ort(proto, {"x": chunk}, outputs=reshaped)
        assert any(theirs[t].shape == (6 * len(chunk), 16) for t in reshaped)     # rows [L*N, E]
        np.testing.assert_allclose(_interpret(graph, chunk), theirs["y"], rtol=1e-5, atol=1e-5)
    expected = model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(_interpret(graph, x), expected, rtol=1e-4, atol=1e-5)


class _WindowAttention(nn.Module):
    """Swin-style: ``[B, H, W, C]`` partitioned into 2x2 windows, ``[B*windows, 4, C]`` (the
    batch merged major with the windows), attention per window, and merged back."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.qkv, self.norm = nn.Linear(c, 3 * c), nn.LayerNorm(c)

    def forward(self, x):
        b, h, w, c = x.shape
        win = x.view(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4, c)
        q, k, v = self.qkv(self.norm(win)).reshape(win.shape[0], 4, 3, c).permute(2, 0, 1, 3)
        out = (q @ k.transpose(-2, -1)).softmax(-1) @ v
        return x + out.view(b, h // 2, w // 2, 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript-dynamic", "dynamo-fixed"])
def test_window_attention(dynamo, tmp_path):
    torch.manual_seed(6)
    model = _WindowAttention().eval()
    path = tmp_path / "win.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(2, 4, 4, 8),), str(path), dynamo=dynamo, opset_version=17 if not dynamo
                          else None, input_names=["x"], output_names=["y"],
                          dynamic_axes=None if dynamo else {"x": {0: "b"}, "y": {0: "b"}})
    graph = import_onnx(path)
    x = np.random.default_rng(6).random((4, 4, 4, 8)).astype(np.float32)
    mine = _interpret(graph, x)
    np.testing.assert_allclose(mine, model(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    for i in (0, 2):
        theirs = run_ort(onnx.load(path), {"x": x[i:i + 2]})["y"]
        np.testing.assert_allclose(mine[i:i + 2], theirs, rtol=1e-5, atol=1e-5)


def test_batch_carried_by_the_op_at_a_fixed_batch_of_one():
    """At N = 1 Swin's ``qkv.permute(2, 0, 3, 1, 4)`` of ``[N*64, 49, 3, 3, 32]`` is
    ``[3, N*64, 3, 49, 32]``, but its shapes also read as the batch merged into axis 0;
    the permute decides. Squeezing the batch away leaves the shapes to decide (None)."""
    from snnc.onnx.importer.layout import Layout, Sizes, carried, classify

    one = [Sizes(None, 1)]
    rows = Layout(("N",), (64, 49, 3, 3, 32), 0, "major")
    dims = [(3, 64, 3, 49, 32)]
    assert classify(dims, one, [rows]).pos == 0                     # what the shapes say
    assert carried(rows, [2, 0, 3, 1, 4], dims, one) == Layout(("N",), (3, 64, 3, 49, 32), 1, "major")
    q = carried(Layout(("N",), (3, 64, 3, 49, 32), 1, "major"), [1, 2, 3, 4], [(64, 3, 49, 32)], one)
    assert q == Layout(("N",), (64, 3, 49, 32), 0, "major")          # qkv[0]: Gather / Squeeze of axis 0
    tokens = Layout(("N",), (49, 96))
    assert carried(tokens, [None, 0, 1, 2], [(1, 1, 49, 96)], one) == Layout(("1", "N"), (49, 96))
    assert carried(tokens, [1, 2], [(49, 96)], one) is None          # x.squeeze(0) drops the batch
