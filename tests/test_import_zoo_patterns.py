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


def _export(model: nn.Module, x: torch.Tensor, path, dynamo: bool) -> None:
    """Legacy exporter with a dynamic batch, or dynamo's default: the batch fixed at x's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["x"], output_names=["y"])
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})


def _check(model: nn.Module, sample: tuple[int, ...], path, dynamo: bool) -> object:
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
