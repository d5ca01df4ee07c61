"""A SIT-converted SNN on ``--target loihi`` (issue 14): the digits ViT converted with ``sit``
compiles, its Spiking-Softmax (SI-exp, SI-norm) stays on the host as named host nodes
inside the Lava run, and ``snnc verify --target loihi`` finds the Loihi interpreter and
Lava equal bit for bit. The op counts come from the converted ONNX file itself."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
from conftest import require

require("torch")
SNNC = [sys.executable, "-m", "snnc"]


def test_sit_snn_compiles_with_its_softmax_on_the_host_and_verifies_on_lava(digits_vit, lava, tmp_path):
    tmp, _ = digits_vit
    snn = tmp_path / "sit.onnx"
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o", str(snn),
                               "--method", "sit"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ops = [n.op_type for n in onnx.load(str(snn)).graph.node]
    assert ops.count("SIExp") >= 1 and ops.count("SINorm") == ops.count("SIExp")
    np.save(tmp_path / "x.npy", np.load(tmp / "test.npy")[:1])

    r = subprocess.run(SNNC + ["compile", str(snn), "--target", "loihi", "-o", str(tmp_path / "loihi"), "--input",
                               str(tmp_path / "x.npy"), "--samples", "1", "-T", "2", "--no-simulate"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    deployment = json.loads((tmp_path / "loihi" / "report.json").read_text())["deployment"]
    hosted = [e for e in deployment["host"] if e.get("op") in ("si_exp", "si_norm")]
    assert sorted(e["op"] for e in hosted) == sorted(["si_exp", "si_norm"] * ops.count("SIExp"))
    assert all(e["node"] and "not a neurocore operation" in e["reason"] for e in hosted)
    in_run = [e for e in deployment["lava_run"]["host_in_run"] if e.get("op") in ("si_exp", "si_norm")]
    assert sorted(e["op"] for e in in_run) == sorted(["si_exp", "si_norm"] * ops.count("SIExp"))

    r = subprocess.run(SNNC + ["verify", str(snn), "--target", "loihi", "--input", str(tmp_path / "x.npy"), "-T", "2",
                               "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["bit_exact"] is True and report["onnxruntime"] is True
    assert all(layer["lava_equals_loihi"] for layer in report["layers"])
