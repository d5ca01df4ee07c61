"""ONNX Einsum (issue 16): the equations transformers and timm write lower to matmul /
transpose / reshape / linear, checked against onnxruntime on models built with
onnx.helper and on one torch.onnx.export writes from torch.einsum; the rest is refused by
name with the equation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from snnc.ir.errors import SnncError
from snnc.ir.interpret import Interpreter
from snnc.onnx.dialect import LAYOUT_KEY
from snnc.onnx.importer import import_onnx

from ann_models import export_torchscript
from onnx_helpers import run_ort


def _model(equation: str, shapes: list, const: dict | None = None, timed: bool = False) -> onnx.ModelProto:
    """One Einsum node; inputs named a, b (a constant when in ``const``), the batch axis
    (and time axis, ``timed``) open."""
    lead = ["T", "N"] if timed else ["N"]
    names = ["a", "b"][:len(shapes)]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [*lead, *s]) for n, s in zip(names, shapes)
              if n not in (const or {})]
    inits = [helper.make_tensor(n, TensorProto.FLOAT, v.shape, v.reshape(-1).tolist())
             for n, v in (const or {}).items()]
    node = helper.make_node("Einsum", names, ["y"], equation=equation, name="ein")
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if timed:
        helper.set_model_props(model, {LAYOUT_KEY: json.dumps({n: {"time_axis": 0, "batch_axis": 1}
                                                               for n in names if n not in (const or {})})})
    return model


def _check(model: onnx.ModelProto, lead=(3,)):
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in model.graph.input:
        per = [d.dim_value for d in inp.type.tensor_type.shape.dim][len(lead):]
        feeds[inp.name] = rng.standard_normal((*lead, *per)).astype(np.float32)
    want = run_ort(model, feeds)["y"]
    graph = import_onnx(model)
    got = Interpreter(graph).run({k: feeds[k] for k in graph.inputs})[graph.outputs[0]]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return [n.op for n in graph.nodes]


@pytest.mark.parametrize("equation, shapes, ops", [
    ("bhid,bhjd->bhij", [(2, 3, 4), (2, 5, 4)], ["transpose", "matmul"]),          # q kᵀ
    ("bhij,bhjd->bhid", [(2, 3, 5), (2, 5, 4)], ["matmul"]),                       # attn v
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)], ["matmul"]),
    ("bij->bji", [(3, 4)], ["transpose"]),
    ("bi,bj->bij", [(3,), (4,)], ["reshape", "reshape", "matmul"]),                # outer
    ("bhqd,bkhd->bhqk", [(2, 3, 4), (5, 2, 4)], ["transpose", "matmul"]),          # timm's layout mix
    ("bnd,bmd->bnm", [(3, 4), (5, 4)], ["transpose", "matmul"]),
    ("bhid,bhjd->bihj", [(2, 3, 4), (2, 5, 4)], ["transpose", "matmul", "transpose"]),
])
def test_einsum_forms_match_onnxruntime(equation, shapes, ops):
    assert _check(_model(equation, shapes)) == ops


def test_einsum_over_time_and_batch():
    assert _check(_model("tbhid,tbhjd->tbhij", [(2, 3, 4), (2, 5, 4)], timed=True), lead=(4, 3)) == [
        "transpose", "matmul"]


def test_einsum_by_a_constant_is_a_linear_or_a_matmul():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 6)).astype(np.float32)
    assert _check(_model("bsd,de->bse", [(3, 4), None], const={"b": w})) == ["linear"]
    assert _check(_model("bi,j->bij", [(3,), None], const={"b": w[0]})) == ["reshape", "linear"]
    rel = rng.standard_normal((2, 5, 4)).astype(np.float32)      # a per-head table: shared letter h
    assert "matmul" in _check(_model("bhid,hjd->bhij", [(2, 3, 4), None], const={"b": rel}))
    assert _check(_model("ed,bsd->bse", [None, (3, 4)], const={"a": w.T.copy()})) == ["linear"]
    w3 = rng.standard_normal((4, 5)).astype(np.float32)          # the ellipsis axes stay rows
    assert _check(_model("...ij,jk->...ik", [(2, 3, 4), None], const={"b": w3})) == ["linear"]
    w4 = rng.standard_normal((4, 3, 5)).astype(np.float32)       # two summed letters fold into one K
    assert _check(_model("bsdh,dhe->bse", [(2, 4, 3), None], const={"b": w4})) == ["reshape", "linear"]


@pytest.mark.parametrize("equation, shapes, needle", [
    ("bii->bi", [(3, 3)], "a letter repeated within 'bii' (a diagonal)"),
    ("bij->bi", [(3, 4)], "sums over 'j' of one operand"),
    ("bij,bjk->bi", [(3, 4), (4, 5)], "sums 'k' over one operand alone"),
    ("bij,bjk->ik", [(3, 4), (4, 5)], "sums over or reorders the time/batch axes (b)"),
    ("bij,cjk->bik", [(3, 4), (4, 5)], "time/batch axes are letters ['b', 'c']"),
])
def test_other_einsums_are_refused_with_the_equation(equation, shapes, needle):
    with pytest.raises(SnncError, match=None) as err:
        import_onnx(_model(equation, shapes))
    assert needle in str(err.value) and equation in str(err.value), str(err.value)


def test_refusal_is_one_line_from_the_cli(tmp_path):
    onnx.save(_model("bii->bi", [(3, 3)]), str(tmp_path / "m.onnx"))
    r = subprocess.run([sys.executable, "-m", "snnc", "show", str(tmp_path / "m.onnx")], capture_output=True, text=True)
    assert r.returncode == 2 and "Einsum 'bii->bi'" in r.stderr and "Traceback" not in r.stderr, r.stderr


class _EinsumAttention(torch.nn.Module):
    """Attention written with torch.einsum, as transformers' and timm's older blocks write it."""

    def __init__(self, dim=8, heads=2):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim)

    def forward(self, x):
        n, s, d = x.shape
        q, k, v = self.qkv(x).reshape(n, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.einsum("bhid,bhjd->bhij", q, k).softmax(-1)
        y = torch.einsum("bhij,bhjd->bhid", attn, v)
        return self.proj(y.transpose(1, 2).reshape(n, s, d))


def test_torch_einsum_export_matches_onnxruntime(tmp_path):
    torch.manual_seed(0)
    export_torchscript(_EinsumAttention(), torch.rand(2, 5, 8), tmp_path / "att.onnx", opset=17)
    proto = onnx.load(str(tmp_path / "att.onnx"))
    assert [n.op_type for n in proto.graph.node].count("Einsum") == 2
    graph = import_onnx(proto)
    x = np.random.default_rng(0).random((3, 5, 8)).astype(np.float32)
    want = run_ort(proto, {"x": x})["y"]
    got = Interpreter(graph).run({"x": x})[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert [n.op for n in graph.nodes].count("matmul") == 2

