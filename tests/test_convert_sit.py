"""``sit`` conversion (issue 14): the digits ViT (``conftest.digits_vit``, shared with
``test_convert_ecmt.py``) converted with every softmax a Spiking-Softmax (SIT Eq. 1-10)
inside ECMT's compensation: `snnc check` is clean, the SNN at T = 8 is within 5 points of the ANN, and onnxruntime on the file
equals the simulator."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from conftest import require
from onnx_helpers import run_ort

require("torch")
require("sklearn")
SNNC = [sys.executable, "-m", "snnc"]


def test_digits_vit_sit_checks_clean_and_reaches_the_ann(digits_vit):
    tmp, _ = digits_vit
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o",
                               str(tmp / "sit.onnx"), "--method", "sit", "--softmax-steps", "12"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "spiking-softmax=1" in r.stdout and "spiking-matmul=2" in r.stdout, r.stdout
    r = subprocess.run(SNNC + ["check", str(tmp / "sit.onnx")], capture_output=True, text=True)
    assert r.returncode == 0 and "0 errors, 0 warnings" in r.stdout, r.stdout
    assert "2/2 attention products spike-driven" in r.stdout
    assert "SIT Spiking-Softmax: si_norm" in r.stdout
    r = subprocess.run(SNNC + ["evaluate", str(tmp / "sit.onnx"), "--ann", str(tmp / "ann.onnx"), "--data",
                               str(tmp / "test.npy"), "--labels", str(tmp / "y.npy"), "-T", "1,4,8",
                               "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    ann = report["ann"]["accuracy"]
    rows = {row["T"]: row for row in report["rows"]}
    assert ann > 0.85
    assert rows[8]["accuracy"] >= ann - 0.05, (ann, rows[8]["accuracy"])
    assert rows[1]["cosine"] < rows[4]["cosine"] < rows[8]["cosine"]
    # the Spiking-Softmax is priced in the full count only (SI-exp spikes, SI-norm FLOPs)
    assert rows[8]["energy_full_pj"] > rows[8]["energy_synaptic_pj"]
    np.save(tmp / "few.npy", np.load(tmp / "test.npy")[:8])
    r = subprocess.run(SNNC + ["report", str(tmp / "sit.onnx"), "--input", str(tmp / "few.npy"), "-T", "4",
                               "--no-progress", "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    extra = json.loads(r.stdout)["ecmt_overhead"]
    assert extra["sit_ops"] == {"si_exp": 1, "si_norm": 1} and extra["sit_acs"] > 0 and extra["sit_macs"] > 0
    assert extra["full_energy_ratio"] > json.loads(r.stdout)["total"]["energy_ratio"]


def test_sit_graph_and_onnxruntime_equals_the_simulator(digits_vit):
    from snnc.backends.sim import simulate
    from snnc.conversion.convert import convert
    from snnc.onnx.importer import import_onnx

    tmp, _ = digits_vit
    snn, _ = convert(str(tmp / "ann.onnx"), str(tmp / "calib.npy"), method="sit", softmax_steps=8,
                     softmax_shift=False)
    graph = import_onnx(snn)
    ops = [n.op for n in graph.nodes]
    assert "softmax" not in ops and ops.count("si_exp") == 1 and ops.count("si_norm") == 1
    assert "reduce_max" not in ops                            # --no-softmax-shift: the paper's form
    exp = next(n for n in graph.nodes if n.op == "si_exp")
    assert exp.attrs["K"] == 8
    # inside the compensation: cum_mean -> si_exp -> si_norm -> delta
    assert graph.producer(exp.inputs[0]).op == "cum_mean"
    norm = next(n for n in graph.nodes if n.op == "si_norm")
    assert [u.op for u in graph.users(norm.outputs[0])] == ["delta"]
    x = np.load(tmp / "test.npy")[:8]
    ort_out = next(iter(run_ort(snn, {"image": np.broadcast_to(x, (4, *x.shape)).copy()}).values()))
    result = simulate(graph, {"image": x}, timesteps=4)
    np.testing.assert_allclose(result.outputs[graph.outputs[0]], ort_out, rtol=1e-4, atol=1e-4)
    assert result.sit_total("acs") > 0 and result.sit_total("macs") > 0


def test_pre_sigmoid_and_shift_sit_before_the_si_exp(digits_vit):
    """--pre-sigmoid and the shift: sigmoid -> x − max x -> si_exp, inside the compensation;
    the file still runs on onnxruntime and equals the simulator."""
    from snnc.backends.sim import simulate
    from snnc.conversion.convert import convert
    from snnc.onnx.importer import import_onnx

    tmp, _ = digits_vit
    snn, _ = convert(str(tmp / "ann.onnx"), str(tmp / "calib.npy"), method="sit", pre_sigmoid=True)
    graph = import_onnx(snn)
    exp = next(n for n in graph.nodes if n.op == "si_exp")
    shift = graph.producer(exp.inputs[0])
    assert shift.op == "sub" and graph.producer(shift.inputs[1]).op == "reduce_max"
    assert graph.producer(shift.inputs[0]).op == "sigmoid"
    assert graph.producer(graph.producer(shift.inputs[0]).inputs[0]).op == "cum_mean"
    x = np.load(tmp / "test.npy")[:4]
    ort_out = next(iter(run_ort(snn, {"image": np.broadcast_to(x, (3, *x.shape)).copy()}).values()))
    sim_out = simulate(graph, {"image": x}, timesteps=3).outputs[graph.outputs[0]]
    np.testing.assert_allclose(sim_out, ort_out, rtol=1e-4, atol=1e-4)


def test_unknown_softmax_steps_is_a_user_error(digits_vit, tmp_path):
    from snnc.nn.sit import shipped_ks

    tmp, _ = digits_vit
    missing = next(k for k in range(4, 200) if k not in shipped_ks())      # a K with no fitted table
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o",
                               str(tmp_path / "x.onnx"), "--method", "sit", "--softmax-steps", str(missing)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith(f"snnc: error: --softmax-steps {missing}")
    assert not (tmp_path / "x.onnx").exists()
