"""ECMT conversion ops in the IR: imported from the exported file, the numpy interpreter
equals onnxruntime on that file; the IR written back as ONNX equals it too; kinds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from conversion_nets import exported_ecmt_block
from onnx_helpers import run_ort

from snnc.ir.interpret import record, run
from snnc.onnx.importer import import_onnx
from snnc.onnx.ir_to_onnx import graph_to_onnx


@pytest.fixture(scope="module")
def exported():
    return exported_ecmt_block()


def _ort_out(proto, x):
    return run_ort(proto, {proto.graph.input[0].name: x})[proto.graph.output[0].name]


def test_interpreter_equals_onnxruntime_at_two_shapes(exported):
    model, proto = exported
    graph = import_onnx(proto)
    ops = [n.op for n in graph.nodes]
    for op in ("multi_threshold", "cum_mean", "delta", "spiking_matmul"):
        assert op in ops
    rng = np.random.default_rng(0)
    for t, n in [(4, 3), (6, 2)]:
        x = rng.standard_normal((t, n, 5, 6)).astype(np.float32)
        want = _ort_out(proto, x)
        got = run(graph, {graph.inputs[0]: x})[graph.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        # the graded spikes are exact: equal to PyTorch's MultiThreshold on the same input
        values = record(graph, {graph.inputs[0]: x})
        mt = next(n for n in graph.nodes if n.op == "multi_threshold")
        with torch.no_grad():
            a = model.mt_a(model.fc(torch.from_numpy(x))).numpy()
        np.testing.assert_array_equal(values[mt.outputs[0]], a)


def test_kinds_graded_and_analog(exported):
    _, proto = exported
    graph = import_onnx(proto)
    kinds = {n.op: graph.values[n.outputs[0]].kind for n in graph.nodes
             if n.op in ("multi_threshold", "cum_mean", "delta", "spiking_matmul")}
    assert kinds["multi_threshold"].is_graded_spike and not kinds["multi_threshold"].is_analog
    for op in ("cum_mean", "delta", "spiking_matmul"):
        assert kinds[op].is_analog
    # mt_b: θ = 0.3, 3 levels, gap 2: {0, ±0.3, ±0.6, ±1.2} in float32
    mt_b = [n for n in graph.nodes if n.op == "multi_threshold"][1]
    levels = sorted(graph.values[mt_b.outputs[0]].kind.levels)
    th = np.float32(0.3)
    want = sorted([0.0] + [s * float(th * np.float32(2.0 ** k)) for k in range(3) for s in (1, -1)])
    assert levels == want


def test_written_back_equals_onnxruntime(exported):
    _, proto = exported
    graph = import_onnx(proto)
    again = graph_to_onnx(graph)
    assert sorted(n.op_type for n in again.graph.node if n.domain == "snnc") == \
        sorted(n.op_type for n in proto.graph.node if n.domain == "snnc")
    x = np.random.default_rng(1).standard_normal((5, 2, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(_ort_out(again, x), _ort_out(proto, x), rtol=1e-5, atol=1e-5)


def test_snnc_show_prints_the_ops(exported, tmp_path):
    _, proto = exported
    path = tmp_path / "ecmt.onnx"
    onnx.save(proto, path)
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for op in ("multi_threshold", "cum_mean", "delta", "spiking_matmul", "graded(levels=3)"):
        assert op in out.stdout
    assert "theta_pos" in out.stdout and "Traceback" not in out.stderr


def test_json_round_trip_keeps_the_graded_kind(exported, tmp_path):
    from snnc.ir.serialize import from_json, to_json

    _, proto = exported
    graph = import_onnx(proto)
    again = from_json(to_json(graph))
    for name, value in graph.values.items():
        assert again.values[name].kind == value.kind
    mt = next(n for n in again.nodes if n.op == "multi_threshold")
    assert again.values[mt.outputs[0]].kind.is_graded_spike
    x = np.random.default_rng(2).standard_normal((3, 2, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(again, {again.inputs[0]: x})[again.outputs[0]],
                                  run(graph, {graph.inputs[0]: x})[graph.outputs[0]])


def test_per_channel_graded_kind_with_many_channels_stays_graded():
    from snnc.ir.kinds import MAX_LEVELS, graded_spikes

    thetas = np.linspace(0.01, 1.0, MAX_LEVELS).tolist()    # too many levels to list
    kind = graded_spikes(4, 2.0, thetas, thetas)
    assert kind.levels is None and kind.is_graded_spike and not kind.is_analog
    assert kind.name == "graded(levels=4)"


def _edit_multithreshold(proto, name, value):
    """A copy of ``proto`` with the first MultiThreshold's attribute ``name`` set to
    ``value`` (None: removed)."""
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    node = next(n for n in proto.graph.node if n.op_type == "MultiThreshold")
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)
    if value is not None:
        node.attribute.append(onnx.helper.make_attribute(name, value))
    return proto


@pytest.mark.parametrize("name,value,message", [
    ("theta_neg", None, "missing attribute(s) theta_neg"),
    ("theta_pos", [-0.1, 0.2, 0.15, 0.1, 0.3], "theta_pos must list one threshold > 0"),
    ("levels", 4.0, "attribute 'levels' must be a int"),
    ("theta_pos", [0.1, 0.2], "2 per-channel theta_pos values need 2 channels"),
])
def test_bad_multithreshold_attributes_are_one_line_errors(exported, name, value, message):
    from snnc.ir.errors import SnncError

    with pytest.raises(SnncError) as err:
        import_onnx(_edit_multithreshold(exported[1], name, value))
    assert message in str(err.value) and "/mt_a/MultiThreshold" in str(err.value)


def test_bad_multithreshold_on_the_cli(exported, tmp_path):
    path = tmp_path / "bad.onnx"
    onnx.save(_edit_multithreshold(exported[1], "theta_neg", None), path)
    out = subprocess.run([sys.executable, "-m", "snnc", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("snnc: error: node '/mt_a/MultiThreshold'") and len(out.stderr.splitlines()) == 1
