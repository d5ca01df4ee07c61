"""The CLI on a small exported network that uses every ECMT op (MultiThreshold, CumMean,
Delta via ExpectationCompensation, SpikingMatMul): no traceback, the verdicts stated in
docs/check.md, and report counts equal to numpy counts over PyTorch's spikes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from conversion_nets import exported_ecmt_block


T, N = 4, 2


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ecmt")
    model, proto = exported_ecmt_block()
    onnx.save(proto, root / "ecmt.onnx")
    x = np.random.default_rng(0).standard_normal((T, N, 5, 6)).astype(np.float32)
    np.save(root / "x.npy", x)
    return model, root, x


def _snnc(*args):
    out = subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True)
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr
    return out


def test_check_verdicts(files):
    _, root, _ = files
    out = _snnc("check", root / "ecmt.onnx", "--json")
    assert out.returncode == 1                       # proj reads the analog matmul output
    report = json.loads(out.stdout)
    verdicts = {row["name"]: row["verdict"] for row in report["layers"]}
    assert verdicts == {"fc.matmul": "encoder", "scores": "spike-driven", "mix": "spike-driven",
                        "proj.matmul": "MAC", "head.matmul": "head"}
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert [d["node"] for d in errors] == ["proj.matmul"]
    assert "put a MultiThreshold neuron before it" in errors[0]["fix"]
    compensated = [d for d in report["diagnostics"] if d["code"] == "SNN004"]
    assert compensated and all(d["severity"] == "note" for d in compensated)
    strict_head = _snnc("check", root / "ecmt.onnx", "--json", "--no-allow-analog-head")
    rows = {row["name"]: row for row in json.loads(strict_head.stdout)["layers"]}
    assert rows["head.matmul"]["verdict"] == "MAC"


def _ecmt_acs(a, b):
    """Eq. 12's gated sums over [T, N, ..., n, p] @ [T, N, ..., p, m], by numpy matmuls."""
    nz = lambda x: (x != 0).astype(np.int64)                                 # noqa: E731
    prev = lambda x: np.concatenate([np.zeros_like(x[:1]), np.cumsum(x, 0)[:-1]])   # noqa: E731
    return int((nz(a) @ nz(b)).sum() + (nz(a) @ nz(prev(b))).sum() + (nz(prev(a)) @ nz(b)).sum())


def test_report_counts_the_spiking_matmuls(files, tmp_path):
    model, root, x = files
    out = _snnc("report", root / "ecmt.onnx", "--input", root / "x.npy", "--format", "json", "--no-progress")
    assert out.returncode == 0, out.stderr
    layers = {row["name"]: row for row in json.loads(out.stdout)["layers"]}
    with torch.no_grad():
        xt = torch.from_numpy(x)
        a = model.mt_a(model.fc(xt))
        b = model.mt_b(model.norm(a))
        s = model.mt_s(model.scores(a, b.transpose(-1, -2)))
    scores, mix = layers["scores"], layers["mix"]
    assert scores["acs"] * N == _ecmt_acs(a.numpy(), b.transpose(-1, -2).numpy())
    assert mix["acs"] * N == _ecmt_acs(s.numpy(), b.numpy())
    for row in (scores, mix):
        assert row["charged_as"].startswith("AC+MAC") and 0 < row["acs"] <= row["ac_bound"]
    # what ECMT's ratio leaves out: each ExpComp(LayerNorm, GELU) on [5, 8] (40 elements)
    # runs cum_mean 1, LayerNorm 2, GELU's div, erf, add, mul, mul 1 each, delta 1 FLOP per
    # element per step: 9 x 40 = 360; two of them, T steps
    report = json.loads(out.stdout)
    extra = report["ecmt_overhead"]
    assert extra["flops"] == 2 * 360 * T
    e_mac = report["energy_model"]["e_mac_pj"]
    assert abs(extra["full_energy_ratio"] - (report["total"]["energy_pj"] + extra["flops"] * e_mac)
               / report["total"]["ann_energy_pj"]) < 1e-9
    text = _snnc("report", root / "ecmt.onnx", "--input", root / "x.npy", "--no-progress")
    assert "Eq. 13 bound" in text.stdout and "spiking_matmul" in text.stdout
    assert "ratio below is ECMT's" in text.stdout and "(full)" in text.stdout
    html = _snnc("report", root / "ecmt.onnx", "--input", root / "x.npy", "--no-progress", "--format", "html",
                 "-o", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert html.returncode == 0 and "spiking_matmul" in page and "full count" in page


def test_compile_for_loihi_runs_and_names_host_reasons(files, tmp_path):
    _, root, _ = files
    out = _snnc("compile", root / "ecmt.onnx", "--target", "loihi", "-o", tmp_path / "out", "--no-simulate")
    assert out.returncode in (0, 1), out.stderr
    mapping = json.loads((tmp_path / "out" / "mapping.json").read_text())
    host = {h["node"]: h["reason"] for h in mapping["host"]}
    for node in ("norm.cummean", "norm.delta", "scores"):
        assert node in host and host[node]
    neurons = set(mapping["layers"].values())        # the multi-threshold neurons are on chip (issue 15)
    assert {"mt_a", "mt_b"} <= neurons and not {"mt_a", "mt_b"} & set(host)
    assert "graded spikes" in host["mt_a.float"]    # the host reads mt_a's payload back for ExpComp
