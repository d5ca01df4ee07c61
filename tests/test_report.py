"""The energy / op-count report: JSON / CSV / table contents, the Spikformer vs
Spikingformer comparison (Spikingformer Table 1's point: integer-float layers are MACs),
and the ``snnc simulate`` / ``snnc report`` command lines."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from onnx_helpers import run_ort
from sim_helpers import reference
from snnc.backends.energy import load_model
from snnc.backends.sim import simulate
from snnc.report import build_report, render

X = np.random.default_rng(5).random((4, 2, 3, 16, 16), dtype=np.float32)
LAYER_KEYS = {"name", "op", "input_kind", "firing_rate", "flops", "acs", "macs", "energy_pj"}
TOTAL_KEYS = {"acs", "macs", "energy_pj", "ann_energy_pj", "energy_ratio"}


def report_of(family, integer_as="macs", model="45nm"):
    proto, graph = reference(family)
    res = simulate(graph, {"x": X}, integer_as=integer_as)
    return build_report(graph, res, load_model(model))


def conv_inputs(family):
    """ONNX Conv node -> (its input tensor from onnxruntime, output channels), by IR name."""
    proto, graph = reference(family)
    by_name = {n.name: n for n in proto.graph.node}
    convs = {node.name: by_name[node.source] for node in graph.nodes if node.op == "conv"}
    values = run_ort(proto, {"x": X}, outputs=[n.input[0] for n in convs.values()])
    weights = {i.name: i for i in proto.graph.initializer}
    return {name: (values[n.input[0]], weights[n.input[1]].dims[0]) for name, n in convs.items()}


def test_spikformer_integer_float_layers_are_macs_spikingformer_layers_acs():
    """Same size, same seed (the tokenizers share weights and BatchNorm statistics). In
    Spikformer the q/k/v convs read count(2) (the tokenizer's spike + spike residual) and
    fc1 reads count(3): charged as MACs — one per nonzero input and synapse (integer x
    float) — or, with integer_as="acs", k ACs per value k (Spikingformer App. F). In
    Spikingformer every layer but the encoder and the head reads spikes: ACs only. The
    expected counts come from onnxruntime's own tensors: each of these convs is 1x1, so
    every input element reaches exactly O synapses."""
    former, spiking = report_of("spikformer"), report_of("spikingformer")
    former_acs = report_of("spikformer", integer_as="acs")
    tensors = conv_inputs("spikformer")
    n = X.shape[1]
    integer_float = {lay["name"]: lay for lay in former["layers"] if lay["input_kind"].startswith("count")}
    assert sorted(integer_float) == ["block.0.attn.k_conv", "block.0.attn.q_conv", "block.0.attn.v_conv",
                                     "block.0.mlp.fc1_conv"]
    as_acs = {lay["name"]: lay for lay in former_acs["layers"]}
    print("\nlayer                  input     MACs (integer as MAC)   ACs (integer as k ACs)")
    for name, lay in integer_float.items():
        x, out_ch = tensors[name]
        assert set(np.unique(x)) <= {0.0, 1.0, 2.0, 3.0}
        assert lay["charged_as"] == "MAC (integer-float)" and lay["acs"] == 0
        assert lay["macs"] == np.count_nonzero(x) * out_ch / n > 0
        assert as_acs[name]["macs"] == 0 and as_acs[name]["acs"] == x.sum() * out_ch / n
        assert lay["energy_pj"] == pytest.approx(4.6 * lay["macs"])
        assert as_acs[name]["energy_pj"] == pytest.approx(0.9 * as_acs[name]["acs"])
        print(f"{name:22s} {lay['input_kind']:9s} {lay['macs']:12.0f} {as_acs[name]['acs']:22.0f}")
    # Spikingformer: MACs only in the encoder and the head
    mac_layers = [lay["name"] for lay in spiking["layers"] if lay["macs"]]
    assert mac_layers == ["patch_embed.proj_conv", "head"]
    assert all(lay["charged_as"] == "AC" for lay in spiking["layers"] if lay["name"] not in mac_layers)
    # the MAC energy the two share (encoder: same weights and input; head: dense) is equal,
    # so Spikformer's extra MAC energy is exactly its integer-float layers'
    extra = former["total"]["mac_energy_pj"] - spiking["total"]["mac_energy_pj"]
    assert extra == pytest.approx(sum(4.6 * lay["macs"] for lay in integer_float.values()))
    for report in (former, spiking, former_acs):
        tot = report["total"]
        assert tot["energy_pj"] == pytest.approx(0.9 * tot["acs"] + 4.6 * tot["macs"])
        assert tot["energy_ratio"] == pytest.approx(tot["energy_pj"] / tot["ann_energy_pj"])
    # a value k as k ACs (0.9 pJ each) costs less than one MAC (4.6 pJ) while k <= 5
    assert former_acs["total"]["energy_pj"] < former["total"]["energy_pj"]
    print(f"energy per sample: Spikformer {former['total']['energy_pj'] / 1e3:.1f} nJ (integers as MACs), "
          f"{former_acs['total']['energy_pj'] / 1e3:.1f} nJ (as ACs); Spikingformer "
          f"{spiking['total']['energy_pj'] / 1e3:.1f} nJ; ANN {spiking['total']['ann_energy_pj'] / 1e3:.1f} nJ")


def test_json_csv_and_table():
    report = report_of("spikingformer")
    data = json.loads(render(report, "json"))
    assert data["layers"] and all(LAYER_KEYS <= set(lay) for lay in data["layers"])
    assert TOTAL_KEYS <= set(data["total"])
    tot = data["total"]
    assert tot["acs"] == pytest.approx(sum(lay["acs"] for lay in data["layers"]))
    assert tot["macs"] == pytest.approx(sum(lay["macs"] for lay in data["layers"]))
    assert tot["energy_pj"] == pytest.approx(sum(lay["energy_pj"] for lay in data["layers"]))
    assert tot["ann_energy_pj"] == pytest.approx(4.6 * tot["flops"])
    assert len(data["per_timestep"]) == 4 and data["samples"] == 2
    assert sum(s["acs"] for s in data["per_timestep"]) == pytest.approx(tot["acs"])
    for lay in data["layers"]:
        assert sum(lay["acs_per_step"]) == pytest.approx(lay["acs"])
        assert len(lay["acs_per_step"]) == (1 if lay["name"] == "head" else 4)
    assert sum(sum(n["spikes_per_step"]) for n in data["neurons"]) == pytest.approx(tot["spikes"])
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["name"] for r in rows] == [lay["name"] for lay in data["layers"]] + ["TOTAL"]
    assert float(rows[-1]["energy_pj"]) == pytest.approx(tot["energy_pj"])
    table = render(report, "table")
    assert "block.0.mlp.mlp1_conv" in table and "ratio:   SNN / ANN energy" in table
    unpriced = json.loads(render(report_of("spikingformer", model="loihi1"), "json"))
    assert unpriced["total"]["ann_energy_pj"] is None and unpriced["total"]["energy_ratio"] is None


# -- the command line -----------------------------------------------------------------
def snnc_cli(*args):
    return subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "spikingformer.onnx"
    onnx.save(reference("spikingformer")[0], path)
    return path


def test_cli_simulate_matches_the_api(model_file, tmp_path):
    np.save(tmp_path / "x.npy", X[0])                  # [N, C, H, W]: static, repeated over T
    out = tmp_path / "out.npz"
    done = snnc_cli("simulate", model_file, "--input", tmp_path / "x.npy", "--timesteps", 4, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "T=4" in done.stdout and f"wrote {out}" in done.stdout
    _, graph = reference("spikingformer")
    want = simulate(graph, X[0], timesteps=4).outputs
    with np.load(out) as got:
        assert set(got.files) == set(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-6)
    again = snnc_cli("simulate", model_file, "--input", tmp_path / "x.npy", "-o", out)
    assert again.returncode == 2 and again.stderr.strip() == f"snnc: error: {out} exists; pass --force to overwrite it"
    np.save(tmp_path / "events.npy", X)                # [T, N, ...]: used as is
    events = snnc_cli("simulate", model_file, "--input", tmp_path / "events.npy", "--batch-size", 1)
    assert events.returncode == 0, events.stderr
    assert "T=4" in events.stdout and "output linear: [2, 10]" in events.stdout


def test_cli_report_formats(model_file, tmp_path):
    out = tmp_path / "r.json"
    done = snnc_cli("report", model_file, "--random-input", "--samples", 2, "--format", "json", "-o", out,
                    "--integer-as", "acs")
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["samples"] == 2 and data["integer_as"] == "acs" and TOTAL_KEYS <= set(data["total"])
    digits = snnc_cli("report", model_file, "--digits", "--samples", 3, "--format", "csv", "--energy-model", "loihi1")
    assert digits.returncode == 0, digits.stderr
    assert digits.stdout.splitlines()[0].startswith("name,op,input_kind")
    table = snnc_cli("report", model_file)
    assert table.returncode == 0 and "energy model 45nm" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["--input", "missing.npy"], "missing.npy: no such file"),
    (["--input", "bad.npy"], "not a numpy .npy array"),
    (["--input", "wrong.npy"], "input 'x' has shape [2, 3, 8, 8]; the model takes samples of shape [3, 16, 16]"),
    (["--energy-model", "7nm"], "unknown energy model '7nm'"),
    (["--timesteps", "0"], "--timesteps must be >= 1, got 0"),
    (["--samples", "0", "--random-input"], "--samples must be >= 1, got 0"),
])
def test_cli_errors_are_one_line(model_file, tmp_path, args, message):
    (tmp_path / "bad.npy").write_text("not numpy")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 8, 8), np.float32))
    args = [str(tmp_path / a) if a.endswith(".npy") else a for a in args]
    done = snnc_cli("report", model_file, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("snnc: error: ") and message in done.stderr.splitlines()[0]
