"""transformers' own BERT (a tiny random configuration, no download), exported as its
users do with token ids and a padding mask, imports and runs at any batch equal to
onnxruntime and PyTorch, and converts with ECMT to an SNN whose running mean approaches
the ANN. Its exports hold the idioms a hand-written encoder lacks: the padding mask built
by vmapped index arithmetic (a Gather whose indices are computed from the batch size)
and ``where(isnan(p), 0, p)`` after the attention softmax."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch

from snnc.ir.interpret import Interpreter
from snnc.onnx.importer import import_onnx

from onnx_helpers import run_ort
from zoo import transformers


def _bert(family: str = "Bert"):
    """``BertForSequenceClassification`` (or ``RobertaFor…`` for "Roberta", whose position
    ids are a CumSum of the padding mask and its token types a GatherElements)."""
    tf = transformers()
    cfg = getattr(tf, f"{family}Config")(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, max_position_embeddings=16, num_labels=3)
    torch.manual_seed(0)
    return getattr(tf, f"{family}ForSequenceClassification")(cfg).eval()


def _tokens(n: int, length: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 50, (n, length)).astype(np.int64)
    mask = np.ones((n, length), dtype=np.int64)
    for i in range(n):                                  # right padding of random length
        mask[i, length - rng.integers(0, length // 2):] = 0
    return ids, mask


def _export(model, path, exporter: str):
    """``exporter``: legacy, dynamo (a dynamic batch) or dynamo-fixed (batch 1, the
    dynamo exporter's default: the padding mask's GatherND indices become a constant)."""
    ids, mask = _tokens(1 if exporter == "dynamo-fixed" else 2)
    args = (torch.from_numpy(ids), torch.from_numpy(mask))
    names = dict(input_names=["input_ids", "attention_mask"], output_names=["logits"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo-fixed":
            torch.onnx.export(model, args, str(path), dynamo=True, **names)
        elif exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=64)
            torch.onnx.export(model, args, str(path), dynamo=True, **names,
                              dynamic_shapes={"input_ids": {0: batch}, "attention_mask": {0: batch}})
        else:
            torch.onnx.export(model, args, str(path), dynamo=False, opset_version=17, **names,
                              dynamic_axes={"input_ids": {0: "n"}, "attention_mask": {0: "n"}, "logits": {0: "n"}})


@pytest.mark.parametrize("family", ["Bert", "Roberta"])
@pytest.mark.parametrize("exporter", ["legacy", "dynamo", "dynamo-fixed"])
def test_transformers_bert_imports_and_runs_equal(exporter, family, tmp_path):
    model = _bert(family)
    _export(model, tmp_path / "bert.onnx", exporter)
    graph = import_onnx(tmp_path / "bert.onnx")
    ids, mask = _tokens(5, seed=1)
    (mine,) = Interpreter(graph).run({"input_ids": ids, "attention_mask": mask}).values()
    proto = onnx.load(tmp_path / "bert.onnx")
    # a fixed-batch file runs in onnxruntime a sample at a time; snnc's graph at batch 5
    rows = [slice(i, i + 1) for i in range(5)] if exporter == "dynamo-fixed" else [slice(0, 5)]
    theirs = np.concatenate([run_ort(proto, {"input_ids": ids[r], "attention_mask": mask[r]})["logits"]
                             for r in rows])
    with torch.no_grad():
        expected = model(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    np.testing.assert_allclose(theirs, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_transformers_bert_converts_with_ecmt(tmp_path):
    from snnc.check import check
    from snnc.conversion.convert import convert

    model = _bert()
    _export(model, tmp_path / "bert.onnx", "legacy")
    ids, mask = _tokens(40, seed=2)
    np.savez(tmp_path / "calib.npz", input_ids=ids[:24], attention_mask=mask[:24])
    snn, info = convert(str(tmp_path / "bert.onnx"), str(tmp_path / "calib.npz"), method="ecmt")
    assert info.inserted["spiking-matmul"] == 4             # q·kᵀ and attn·v in each of 2 layers
    result = check(import_onnx(snn))
    assert not [d for d in result.diagnostics if d.severity == "error"]
    steps = 64
    feeds = {"input_ids": np.broadcast_to(ids[24:], (steps, 16, 8)).copy(),
             "attention_mask": np.broadcast_to(mask[24:], (steps, 16, 8)).copy()}
    out = next(iter(run_ort(snn, feeds).values())).astype(np.float64)
    with torch.no_grad():
        ann = model(torch.from_numpy(ids[24:]), attention_mask=torch.from_numpy(mask[24:])).logits.numpy()
    mean = np.cumsum(out, axis=0) / np.arange(1, steps + 1)[:, None, None]
    err = [np.abs(m - ann).max() for m in mean]
    assert err[-1] < err[3] and err[-1] < 0.05 * np.abs(ann).max() + 0.02, (err[3], err[15], err[-1])
