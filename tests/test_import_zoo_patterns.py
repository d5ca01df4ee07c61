"""Patterns that kept models of the ANN zoo from importing (``benchmarks/bench_zoo.py``),
each built small: exported by both torch.onnx exporters, imported, and run in the IR
interpreter at several batch sizes equal to onnxruntime (which runs the file itself) and
to PyTorch. The full zoo is too slow for the suite; ``docs/zoo.md`` has its table.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from snnc.ir.interpret import Interpreter
from snnc.onnx.importer import import_onnx

from conftest import randomize_batchnorm
from onnx_helpers import run_ort


def _export(model: nn.Module, x: torch.Tensor, path, dynamo: bool | str) -> None:
    """Legacy exporter with a dynamic batch, or dynamo's default: the batch fixed at x's
    (``dynamo="dyn"``: dynamic; torch.export specialises a batch of 1, so x is doubled)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo == "dyn":
            torch.onnx.export(model, (torch.cat([x, x]),), str(path), dynamo=True, input_names=["x"],
                              output_names=["y"], dynamic_shapes=({0: torch.export.Dim("n")},))
        elif dynamo:
            torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["x"], output_names=["y"])
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})


def _check(model: nn.Module, sample: tuple[int, ...], path, dynamo: bool | str) -> object:
    """Export at batch 1 and compare the IR interpreter with onnxruntime and PyTorch at
    batches 1 and 3 (onnxruntime one sample at a time where the file fixes the batch)."""
    model.eval()
    _export(model, torch.rand(1, *sample), path, dynamo)
    graph = import_onnx(path)
    proto = onnx.load(path)
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, *sample)).astype(np.float32)
        (mine,) = Interpreter(graph).run({"x": x}).values()
        theirs = np.concatenate([run_ort(proto, {"x": x[i:i + 1]})["y"] for i in range(n)])
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(theirs, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    return graph


class _LinearNorm(nn.Module):
    """timm LeViT's ``LinearNorm``: a BatchNorm1d over the tokens merged into the batch."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 6)
        self.bn = nn.BatchNorm1d(6)

    def forward(self, x):
        x = self.linear(x)
        return self.bn(x.flatten(0, 1)).reshape_as(x)


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_batchnorm_over_rows_merged_with_the_batch(dynamo, tmp_path):
    torch.manual_seed(0)
    model = _LinearNorm()
    randomize_batchnorm(model)
    graph = _check(model, (5, 8), tmp_path / "levit.onnx", dynamo)
    assert [n.op for n in graph.nodes].count("batchnorm") == 1


class _UnevenPool(nn.Module):
    """VGG's head on a small input: an adaptive pool to 7x7 from 4x4 (dynamo writes it as a
    GatherND of the windows, the legacy exporter refuses it)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d((7, 7))
        self.fc = nn.Linear(4 * 49, 5)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


def test_adaptive_pool_that_does_not_divide_its_input(tmp_path):
    torch.manual_seed(1)
    graph = _check(_UnevenPool(), (3, 4, 4), tmp_path / "pool.onnx", dynamo=True)
    assert "gather" in [n.op for n in graph.nodes]


@pytest.mark.parametrize("indices", [[[[0, 1], [2, 0]], [[1, 1], [-1, -2]]], [[2], [0], [1], [1]]],
                         ids=["pairs", "rows"])
def test_gather_nd_at_constant_indices(indices):
    """GatherND over the leading per-sample axes of [H, W, N, C] (the batch third): pairs
    index H and W, rows index H alone; both give [2, 2, N, C] / [4, 2, N, C]."""
    indices = np.array(indices, dtype=np.int64)
    helper = onnx.helper
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 2, 0, 3]),
             helper.make_node("GatherND", ["t", "i"], ["g"]),
             helper.make_node("Relu", ["g"], ["r"]),
             helper.make_node("Transpose", ["r"], ["y"], perm=[2, 0, 1, 3])]     # the batch first again
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                         ["n", 3, 2, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                              [onnx.numpy_helper.from_array(indices, "i")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    ir = import_onnx(proto)
    x = np.random.default_rng(0).standard_normal((5, 3, 2, 4)).astype(np.float32)
    (mine,) = Interpreter(ir).run({"x": x}).values()
    np.testing.assert_array_equal(mine, run_ort(proto, {"x": x})["y"])


def test_gather_nd_across_the_batch_is_refused():
    helper = onnx.helper
    graph = helper.make_graph([helper.make_node("GatherND", ["x", "i"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                              [onnx.numpy_helper.from_array(np.array([[0]], dtype=np.int64), "i")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(Exception, match="GatherND.*include the batch axis"):
        import_onnx(proto)


class _WindowAttention(nn.Module):
    """timm Swin's window attention on ``[N, H, W, C]``: windows merged into the batch
    (``[N*windows, L, C]``), then ``qkv.permute(2, 0, 3, 1, 4)``, ``[3, N*windows, heads,
    L, d]``: at a fixed batch of 1 its shapes also read as the batch merged into axis 0.
    Its ``-1``, stale at another batch, took in the batch at the second probe."""

    def __init__(self, dim: int = 8, heads: int = 2, window: int = 2):
        super().__init__()
        self.heads, self.window, self.scale = heads, window, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, h, w, c = x.shape
        s = self.window
        x = x.view(n, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)
        rows, length, _ = x.shape
        qkv = self.qkv(x).reshape(rows, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(-1)
        x = self.proj((attn @ v).transpose(1, 2).reshape(rows, length, c))
        return x.view(n, h // s, w // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h, w, c)


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_window_attention_with_the_batch_merged_then_moved(dynamo, tmp_path):
    torch.manual_seed(2)
    graph = _check(_WindowAttention(), (4, 4, 8), tmp_path / "swin.onnx", dynamo)
    assert [n.op for n in graph.nodes].count("softmax") == 1


class _Unfold(nn.Module):
    """timm MobileViT's unfold to patches, attention over them and fold back
    (``MobileVitBlock.forward``): ``[N, C, H, W] -> [N*C*n_h, p_h, n_w, p_w] -> [N*P,
    patches, C]``, timm's ``Attention`` (``qkv.reshape(B, L, 3, heads, d)``) and the way
    back. With one patch (n_h = n_w = 1) at a fixed batch of 1 the shapes read several ways
    (``[N*C, p_h, 1, p_w]`` also as the batch third), and the second probe's reading of
    ``[N*P, 1, 3, heads, d]`` keeps its shapes consistent but not the batch: the import
    falls back to the file's batch, where the reshapes and permutes decide."""

    def __init__(self, channels: int = 4, patch: int = 2, heads: int = 2):
        super().__init__()
        self.patch, self.heads = patch, heads
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x):
        n, c, h, w = x.shape
        p = self.patch
        nh, nw = h // p, w // p
        x = x.reshape(n * c * nh, p, nw, p).transpose(1, 2)
        x = x.reshape(n, c, nh * nw, p * p).transpose(1, 3).reshape(n * p * p, nh * nw, -1)
        rows, length, _ = x.shape
        q, k, v = self.qkv(x).reshape(rows, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        x = self.proj(nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(rows, length, c))
        x = x.contiguous().view(n, p * p, nh * nw, -1).transpose(1, 3).reshape(n * c * nh, nw, p, p)
        return x.transpose(1, 2).reshape(n, c, nh * p, nw * p)


@pytest.mark.parametrize("size", [2, 4], ids=["one-patch", "2x2-patches"])
@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_mobilevit_unfold_attend_fold(dynamo, size, tmp_path):
    torch.manual_seed(3)
    graph = _check(_Unfold(), (4, size, size), tmp_path / "unfold.onnx", dynamo)
    assert [n.op for n in graph.nodes].count("softmax") == 1


class _ChannelsLastPool(nn.Module):
    """timm ConvNeXt's head: a LayerNorm over channels-last pixels, permuted back, then an
    adaptive average pool: the pooled tensor is channels-last in memory, and the dynamo
    exporter writes its ``as_strided`` as a Gather at indices computed from the batch."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        x = self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.fc(self.pool(x).flatten(1))


def test_as_strided_flatten_at_a_dynamic_batch(tmp_path):
    torch.manual_seed(4)
    path = tmp_path / "convnext.onnx"
    _check(_ChannelsLastPool(), (3, 6, 6), path, dynamo="dyn")
    (strided,) = [n for n in onnx.load(path).graph.node if "as_strided" in n.name]
    assert strided.op_type == "Gather"          # the pattern under test is in the file
