"""``ecmt`` conversion (issue 14): a ViT trained here on scikit-learn's digits and a
BERT-style encoder (token ids + attention mask) converted; what onnxruntime computes from
the converted file equals the simulator, and approaches the ANN as T grows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
from conftest import require

from onnx_helpers import run_ort

torch = require("torch")
require("sklearn")
SNNC = [sys.executable, "-m", "snnc"]


# the digits ViT fixture (`digits_vit`) lives in conftest.py: test_convert_sit.py reuses it


def test_digits_vit_converts_checks_clean_and_reaches_the_ann(digits_vit):
    tmp, _ = digits_vit
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o",
                               str(tmp / "snn.onnx"), "--method", "ecmt"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "multi-threshold=" in r.stdout and "spiking-matmul=2" in r.stdout
    r = subprocess.run(SNNC + ["check", str(tmp / "snn.onnx")], capture_output=True, text=True)
    assert r.returncode == 0 and "2/2 attention products spike-driven" in r.stdout, r.stdout
    r = subprocess.run(SNNC + ["evaluate", str(tmp / "snn.onnx"), "--ann", str(tmp / "ann.onnx"), "--data",
                               str(tmp / "test.npy"), "--labels", str(tmp / "y.npy"), "-T", "1,2,4,8,16",
                               "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json

    report = json.loads(r.stdout)
    ann = report["ann"]["accuracy"]
    rows = {row["T"]: row for row in report["rows"]}
    assert ann > 0.85
    assert rows[8]["accuracy"] >= ann - 0.05, (ann, rows[8]["accuracy"])
    assert rows[1]["cosine"] < rows[4]["cosine"] < rows[16]["cosine"]
    assert rows[16]["agreement"] >= 0.95


def test_onnxruntime_on_the_converted_file_equals_the_simulator(digits_vit):
    from snnc.backends.sim import simulate
    from snnc.conversion.convert import convert
    from snnc.onnx.importer import import_onnx

    tmp, _ = digits_vit
    x = np.load(tmp / "test.npy")[:12]
    snn, _ = convert(str(tmp / "ann.onnx"), str(tmp / "calib.npy"), method="ecmt")
    ort_out = next(iter(run_ort(snn, {"image": np.broadcast_to(x, (6, *x.shape)).copy()}).values()))
    graph = import_onnx(snn)
    sim_out = simulate(graph, {"image": x}, timesteps=6).outputs[graph.outputs[0]]
    np.testing.assert_allclose(sim_out, ort_out, rtol=1e-4, atol=1e-4)


class TinyEncoder(torch.nn.Module):
    """A BERT-style encoder layer: token and position embeddings, LayerNorm, masked
    self-attention (transformers' additive ``(1 - mask) * -1e4``), GELU feed-forward, the
    first token's embedding out."""

    def __init__(self, vocab=50, dim=16, heads=2, length=6):
        super().__init__()
        self.tok, self.pos = torch.nn.Embedding(vocab, dim), torch.nn.Parameter(torch.randn(1, length, dim) * 0.1)
        self.ln0, self.ln1, self.ln2 = (torch.nn.LayerNorm(dim) for _ in range(3))
        self.attn = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
        self.q, self.k, self.v = (torch.nn.Linear(dim, dim) for _ in range(3))
        self.o = torch.nn.Linear(dim, dim)
        self.ff = torch.nn.Sequential(torch.nn.Linear(dim, 2 * dim), torch.nn.GELU(), torch.nn.Linear(2 * dim, dim))
        self.heads = heads

    def forward(self, input_ids, attention_mask):
        h = self.ln0(self.tok(input_ids) + self.pos)
        n, length, dim = h.shape
        split = lambda t: t.reshape(n, length, self.heads, dim // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        bias = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -1e4
        att = torch.softmax(q @ k.transpose(-1, -2) / (dim // self.heads) ** 0.5 + bias, dim=-1)
        h = self.ln1(h + self.o((att @ v).transpose(1, 2).reshape(n, length, dim)))
        h = self.ln2(h + self.ff(h))
        return h[:, 0]


def test_bert_style_encoder_with_mask_converts_and_approaches_the_ann(tmp_path):
    from snnc.conversion.convert import convert
    from snnc.check import check
    from snnc.onnx.importer import import_onnx

    torch.manual_seed(0)
    model = TinyEncoder().eval()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, (40, 6))
    mask = (rng.random((40, 6)) > 0.3).astype(np.int64)
    mask[:, 0] = 1
    torch.onnx.export(model, (torch.from_numpy(ids[:1]), torch.from_numpy(mask[:1])), str(tmp_path / "enc.onnx"),
                      input_names=["input_ids", "attention_mask"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": {0: "n"}, "attention_mask": {0: "n"}})
    np.savez(tmp_path / "calib.npz", input_ids=ids[:24], attention_mask=mask[:24])
    snn, info = convert(str(tmp_path / "enc.onnx"), str(tmp_path / "calib.npz"), method="ecmt")
    assert info.inserted["spiking-matmul"] == 2
    result = check(import_onnx(snn))
    assert not [d for d in result.diagnostics if d.severity in ("error", "warning")]
    steps = 64
    feeds = {"input_ids": np.broadcast_to(ids[24:], (steps, 16, 6)).copy(),
             "attention_mask": np.broadcast_to(mask[24:], (steps, 16, 6)).copy()}
    out = next(iter(run_ort(snn, feeds).values())).astype(np.float64)
    with torch.no_grad():
        ann = model(torch.from_numpy(ids[24:]), torch.from_numpy(mask[24:])).numpy()
    mean = np.cumsum(out, axis=0) / np.arange(1, steps + 1)[:, None, None]
    cos = [((m * ann).sum(1) / np.linalg.norm(m, axis=1) / np.linalg.norm(ann, axis=1)).mean() for m in mean]
    assert cos[3] < cos[-1] and cos[-1] > 0.99, (cos[3], cos[15], cos[-1])
