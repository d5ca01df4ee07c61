"""A token embedding (``Gather`` of a constant table by the network's integer ids) imports
as one ``embedding`` node; the IR interpreter and the IR written back as ONNX equal
onnxruntime on the original file."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

from onnx_helpers import run_ort

torch = require("torch")


def test_embedding_imports_runs_and_round_trips(tmp_path):
    from snnc.ir.interpret import Interpreter
    from snnc.onnx.importer import import_onnx
    from snnc.onnx.ir_to_onnx import graph_to_onnx

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(30, 8), torch.nn.Linear(8, 4)).eval()
    ids = np.random.default_rng(0).integers(0, 30, (5, 7))
    torch.onnx.export(model, (torch.from_numpy(ids[:1]),), str(tmp_path / "e.onnx"), input_names=["ids"],
                      opset_version=17, dynamo=False, dynamic_axes={"ids": {0: "n"}})
    import onnx

    proto = onnx.load(str(tmp_path / "e.onnx"))
    want = next(iter(run_ort(proto, {"ids": ids}).values()))
    graph = import_onnx(proto)
    assert graph.nodes[0].op == "embedding" and sum(n.op == "embedding" for n in graph.nodes) == 1
    got = Interpreter(graph).run({"ids": ids})[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    back = next(iter(run_ort(graph_to_onnx(graph), {"ids": ids}).values()))
    np.testing.assert_allclose(back, want, rtol=1e-6, atol=1e-6)
    from snnc.ir.interpret import InterpreterError

    with pytest.raises(InterpreterError, match=r"ids must lie in \[-30, 30\)"):
        Interpreter(graph).run({"ids": ids + 100})
