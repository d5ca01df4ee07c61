"""``snnc opt MODEL -o OUT.onnx``: passes from the command line, the file onnxruntime runs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from snnc.cli import main
from snnc.ir.serialize import from_json
from snnc.onnx.importer import import_onnx

from pass_models import random_onnx, reference_onnx, run_unoptimized


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "sf.onnx"
    onnx.save(reference_onnx("spikingformer"), path)
    return path


def test_opt_writes_a_model_onnxruntime_runs(model_file, tmp_path, capsys):
    out = tmp_path / "sf.opt.onnx"
    assert main(["opt", str(model_file), "-o", str(out), "--verify-each", "--timings"]) == 0
    text = capsys.readouterr().out
    assert "fold-bn: folded=11 left=0" in text and "fold-scale: into_threshold=1" in text
    assert "total" in text and f"wrote {out}" in text
    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    assert not [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    assert len([n for n in proto.graph.node if n.domain == "snnc"]) == 11
    x = {"x": np.random.default_rng(0).random((4, 2, 3, 16, 16)).astype(np.float32)}
    (ref,) = run_unoptimized(onnx.load(model_file), x).values()
    (got,) = run_unoptimized(proto, x).values()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * float(np.abs(ref).max()))
    assert [n.op for n in import_onnx(out).nodes].count("batchnorm") == 0


def test_opt_passes_print_after_and_json(model_file, tmp_path, capsys):
    out = tmp_path / "ir.json"
    assert main(["opt", str(model_file), "-o", str(out), "--passes", "fold-bn, dce",
                 "--print-after", "fold-bn"]) == 0
    text = capsys.readouterr().out
    assert "// -----// IR after fold-bn //----- //" in text and "= batchnorm" not in text
    assert "fold-scale" not in text
    graph = from_json(out.read_text())
    assert graph.node("block.0.attn.attn_lif").attrs["v_threshold"] == 0.5     # fold-scale did not run


@pytest.mark.parametrize("argv, message", [
    (["--passes", "fold-bn,fold-all"], "unknown pass(es) 'fold-all'"),
    (["--print-after", "nothing"], "--print-after names unknown pass(es) 'nothing'"),
])
def test_opt_user_errors(model_file, tmp_path, capsys, argv, message):
    assert main(["opt", str(model_file), "-o", str(tmp_path / "o.onnx"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snnc: error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o.onnx").exists()


def test_opt_needs_force_to_overwrite(tmp_path, capsys):
    src = tmp_path / "net.onnx"
    onnx.save(random_onnx(0), src)
    out = tmp_path / "out.onnx"
    out.write_bytes(b"keep me")
    assert main(["opt", str(src), "-o", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["opt", str(src), "-o", str(out), "--force"]) == 0
    assert onnx.load(out).graph.output[0].name == random_onnx(0).graph.output[0].name
    assert main(["opt", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "missing.onnx: no such file" in capsys.readouterr().err
