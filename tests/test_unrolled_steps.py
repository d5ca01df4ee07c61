"""Neurons unrolled into plain ONNX: a user's own step ``(x > θ).float()`` and the
Heaviside forms other frameworks' exporters write (``GreaterOrEqual``, ``Where``,
``Floor``, ``Sign``) import as spiking steps, and ``snnc.export`` never writes a file
that ``snnc show`` cannot read."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from onnx_helpers import run_ort
from conftest import require

torch = require("torch")

import snnc  # noqa: E402
from snnc.ir import interpret  # noqa: E402
from snnc.ir.errors import UnsupportedError  # noqa: E402
from snnc.onnx.importer import import_model  # noqa: E402

# each: the step as a user writes it; the spike kind the importer must give its output
STEPS = {
    "greater_float": (lambda y: (y > 0.25).float(), "spike"),
    "greater_equal_to": (lambda y: (y >= 0.25).to(y.dtype), "spike"),
    "heaviside": (lambda y: torch.heaviside(y - 0.25, torch.tensor(1.0)), "spike"),
    "where_le": (lambda y: torch.where(y <= 0.25, torch.zeros_like(y), torch.ones_like(y)), "spike"),
    "sign_step": (lambda y: (torch.sign(y - 0.25) + 1.0) * 0.5, "graded(3)"),
    "floor_count": (lambda y: torch.floor(y * 3.0).clamp(min=0.0), "analog"),
}


class Step(torch.nn.Module):
    def __init__(self, *fns):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 5)
        self.fns = fns

    def forward(self, x):
        y = self.fc(x)
        return tuple(fn(y) for fn in self.fns)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every step of :data:`STEPS` as one output of one model, exported once (export is slow)."""
    model = Step(*(fn for fn, _ in STEPS.values())).eval()
    x = torch.randn(3, 2, 6, generator=torch.Generator().manual_seed(1))
    names = list(STEPS)
    path = tmp_path_factory.mktemp("steps") / "steps.onnx"
    proto = snnc.export(model, x, path, output_names=names)
    with torch.no_grad():
        want = dict(zip(names, (y.numpy() for y in model(x))))
    return proto, x.numpy(), want, path


@pytest.mark.parametrize("name", list(STEPS))
def test_unrolled_step_imports_and_runs_equal(exported, name):
    proto, x, want, _ = exported
    graph = import_model(proto).graph
    got_ort = run_ort(proto, {"x": x})[name]
    got_ir = interpret.run(graph, {"x": x})[name].reshape(want[name].shape)
    np.testing.assert_array_equal(got_ort, want[name])
    np.testing.assert_array_equal(got_ir, want[name])
    assert str(graph.values[name].kind) == STEPS[name][1]
    if STEPS[name][1] == "spike":     # a real step: both values occur, so the test can fail
        assert set(np.unique(want[name])) == {0.0, 1.0}


def test_snnc_show_reads_what_export_writes(exported):
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(exported[3])], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "greater" in out.stdout and ": spike[5]" in out.stdout


def test_export_refuses_what_it_could_not_read_back(tmp_path):
    """An op with no converter (Atan) is refused before anything is written."""
    path = tmp_path / "atan.onnx"
    with pytest.raises(UnsupportedError, match="could not read the result back.*Atan") as info:
        snnc.export(Step(torch.atan), torch.randn(3, 2, 6), path)
    assert "docs/frameworks.md" not in str(info.value)      # the adapters have run already
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_foreign_unrolled_neuron_points_to_the_adapters(tmp_path):
    """A file from another tool with an op snnc lacks: the error names the adapter path."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Atan", ["x"], ["y"], name="/lif/Atan")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Atan" in out.stderr and "snnc.export(model, x, path)" in out.stderr
