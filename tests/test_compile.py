"""snnc compile: the core mapping holds the target table (loads recomputed here, by other
means), split layers give the same spikes, the artifact runs the same on sim and Lava,
and the netx file has the layout lava-dl reads."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from snnc.backends.loihi.mapping import map_cores
from snnc.backends.loihi.partition import partition
from snnc.backends.loihi.quantize import quantize
from snnc.backends.loihi.targets import LOIHI1, LOIHI2
from snnc.deploy import compile_model, load_artifact, write_artifact
from snnc.nn import LIF
from snnc.onnx.export import export

from core_loads import check_limits, recompute_loads
from loihi_nets import _Net, record
from conftest import require


def wide_net():
    """A conv layer of 8x16x16 = 2048 neurons and a dense layer of 1500: both beyond a
    Loihi 1 core's 1,024 compartments."""
    net = _Net(3, "wide", (2, 16, 16)).conv(8, 3, pad=1).lif(tau=2.0, theta=0.8, decay_input=1)
    net = net.maxpool(2, 2).reshape([8 * 8 * 8]).linear(1500, gain=3.0).lif(tau=2.0, theta=0.7, decay_input=1)
    return net.linear(10).lif(tau=2.0, theta=0.6, decay_input=1).done()


@pytest.fixture(scope="module")
def wide():
    graph = wide_net()
    x = (np.random.default_rng(0).random((6, 3, 2, 16, 16)) < 0.4).astype(np.float32)
    return graph, x, quantize(graph, calibration={"x": x})


@pytest.mark.parametrize("target", [LOIHI1, LOIHI2], ids=lambda t: t.name)
def test_split_layers_give_the_same_spikes(wide, target):
    graph, x, q = wide
    mapping = map_cores(q, target)
    per_layer = {}
    for core in mapping.cores:
        for tile in core.tiles:
            per_layer[tile.layer] = per_layer.get(tile.layer, 0) + 1
    if target is LOIHI1:      # the 2048- and 1500-neuron layers do not fit one core: split
        assert max(per_layer.values()) >= 2 and len(mapping.cores) > 3
    split = partition(q, mapping)
    before, after = record(q, {"x": x}), record(split, {"x": x})
    neurons = [n.outputs[0] for n in q.nodes if n.op == "loihi_lif"]
    assert set(neurons) <= after.keys()          # a split layer's currents live in its tiles only
    for value in before.keys() & after.keys():
        np.testing.assert_array_equal(after[value], before[value], err_msg=value)
    spikes = sum(before[n.outputs[0]].sum() for n in q.nodes if n.op == "loihi_lif")
    assert spikes > 0


@pytest.mark.parametrize("target", [LOIHI1, LOIHI2], ids=lambda t: t.name)
def test_every_core_load_recomputed_holds_the_table(wide, target, tmp_path):
    graph, x, _ = wide
    c = compile_model(graph, target.name, inputs={"x": x})
    write_artifact(c, tmp_path / "out")
    manifest, program, mapping = load_artifact(tmp_path / "out")
    assert manifest["cores"] == len(mapping["cores"]) and manifest["target"] == target.name
    loads = recompute_loads(program, mapping)
    for core, load in zip(mapping["cores"], loads):
        assert load == core["load"], core["index"]
    assert check_limits(loads, target) == []
    assert all(c["chip"] == c["index"] // 128 for c in mapping["cores"])


class ConvDense(nn.Module):
    """A conv/pool/dense spiking chain: everything runs on the neurocores."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.lif1 = LIF(tau=2.0, v_threshold=0.5)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 10)
        self.lif2 = LIF(tau=2.0, v_threshold=0.5)

    def forward(self, x):
        t, n = x.shape[:2]
        y = self.lif1(self.conv(x.flatten(0, 1)).reshape(t, n, 4, 8, 8))
        y = self.pool(y.flatten(0, 1))
        return self.lif2(self.fc(y.flatten(1)).reshape(t, n, 10))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    model = ConvDense()
    for p in model.parameters():
        p.data.abs_()                                    # make it fire
    root = tmp_path_factory.mktemp("compile")
    export(model, torch.rand(2, 2, 1, 8, 8), root / "net.onnx")
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)
    np.save(root / "x.npy", x)
    done = subprocess.run([sys.executable, "-m", "snnc", "compile", root / "net.onnx", "--target", "loihi2",
                           "-o", root / "art", "--input", root / "x.npy"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return root, done.stdout


def test_compile_summary_and_artifact_files(artifact):
    root, stdout = artifact
    for word in ("check", "chip", "host", "energy", "latency", "wrote"):
        assert word in stdout
    files = {p.name for p in (root / "art").iterdir()}
    assert files == {"manifest.json", "program.json", "weights.bin", "mapping.json", "report.json", "report.html", "model.net"}
    report = json.loads((root / "art" / "report.json").read_text())
    assert report["deployment"]["cores"] >= 1 and report["total"]["energy_pj"] > 0
    assert report["deployment"]["timing"]["latency_s"] > 0
    program = load_artifact(root / "art")[1]
    assert {n.op for n in program.nodes} >= {"loihi_conv", "loihi_dense", "loihi_lif"}
    for node in program.nodes:
        if node.op in ("loihi_conv", "loihi_dense"):
            assert node.params["weight"].dtype.kind == "i"


def test_existing_output_needs_force(artifact):
    root, _ = artifact
    again = subprocess.run([sys.executable, "-m", "snnc", "compile", root / "net.onnx", "-o", root / "art"],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    bad = subprocess.run([sys.executable, "-m", "snnc", "compile", root / "net.onnx", "-o", root / "other",
                          "--target", "truenorth"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown target 'truenorth'" in bad.stderr
    assert not (root / "other").exists()


@pytest.mark.lava
def test_run_on_lava_and_sim_gives_identical_spikes(artifact, lava):
    root, _ = artifact
    outs = {}
    for backend in ("sim", "lava"):
        out = root / f"{backend}.npz"
        done = subprocess.run([sys.executable, "-m", "snnc", "run", root / "art", "--backend", backend,
                               "--input", root / "x.npy", "--record", "neurons", "-o", out, "--force"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outs[backend] = dict(np.load(out))
    assert outs["sim"].keys() == outs["lava"].keys()
    for name in outs["sim"]:
        np.testing.assert_array_equal(outs["lava"][name], outs["sim"][name], err_msg=name)
    assert sum(v.sum() for k, v in outs["sim"].items() if k.startswith("spikes/")) > 0


# netx's own key list (lava.lib.dl.netx.utils.NetDict) and the layer types it loads
NETX_ARRAY_KEYS = {"shape", "stride", "padding", "dilation", "groups", "delay", "iDecay", "refDelay", "scaleRho",
                   "tauRho", "theta", "vDecay", "vThMant", "wgtExp", "sinDecay", "cosDecay"}
NETX_TYPES = {"input", "conv", "flatten", "dense"}


def test_netx_file_has_the_layout_netx_reads(artifact):
    h5py = require("h5py")
    root, _ = artifact
    program = load_artifact(root / "art")[1]
    synapses = [n for n in program.nodes if n.op in ("loihi_conv", "loihi_dense")]
    with h5py.File(root / "art" / "model.net", "r") as f:
        layers = [f["layer"][str(i)] for i in range(len(f["layer"]))]
        types = [g["type"][()].decode() for g in layers]
        assert set(types) <= NETX_TYPES and types[0] == "input"
        assert list(layers[0]["shape"][()]) == [1, 8, 8]                       # (C, H, W)
        chip = [g for g, t in zip(layers, types) if t in ("conv", "dense")]
        assert len(chip) == len(synapses)
        for g, syn in zip(chip, synapses):
            lif = program.users(syn.outputs[0])[0]
            keys = set(g.keys())
            assert keys <= NETX_ARRAY_KEYS | {"type", "weight", "bias", "neuron"}
            assert g["weight"].dtype.kind == "i"
            np.testing.assert_array_equal(g["weight"][()], syn.params["weight"] << max(syn.attrs.get("weight_exp", 0), 0))
            shape = program.values[syn.outputs[0]].shape
            assert tuple(g["shape"][()]) == tuple(shape)                       # (C, H, W) / (F,)
            neuron = g["neuron"]
            assert neuron["type"][()].decode() == "CUBA"
            assert int(neuron["vThMant"][()]) == lif.attrs["vth"]
            assert int(neuron["iDecay"][()]) == lif.attrs.get("du", 4095) + 1        # netx: du = iDecay - 1
            assert int(neuron["vDecay"][()]) == lif.attrs.get("dv", 0)
            if types[layers.index(g)] == "conv":
                assert {"stride", "padding", "dilation", "groups"} <= keys
        assert "flatten" in types                                             # conv -> dense


def test_spikingformer_artifact_runs_whole_on_lava_as_on_sim(tmp_path):
    """The bundled example: its residual stream and attention run on the host between chip
    layers, inside the Lava run (host processes); Lava's outputs and every chip layer
    equal the simulator's loihi numerics."""
    from pathlib import Path

    require("lava")
    example = Path(__file__).resolve().parents[1] / "examples" / "spikingformer-tiny.onnx"
    snnc = [sys.executable, "-m", "snnc"]
    done = subprocess.run([*snnc, "compile", example, "-o", tmp_path / "art", "--no-simulate"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lava_run = json.loads((tmp_path / "art" / "report.json").read_text())["deployment"]["lava_run"]
    assert lava_run["runs"] and lava_run["host_ops_in_run"] == len(lava_run["host_in_run"]) > 0
    assert lava_run["bits_to_host_per_step"] == sum(r["in_bits"] for r in lava_run["host_in_run"]) > 0
    assert "lava      " in done.stdout and "host ops inside the run" in done.stdout
    out = {}
    for backend in ("sim", "lava"):
        run = subprocess.run([*snnc, "run", tmp_path / "art", "--backend", backend, "--record", "neurons",
                              "-o", tmp_path / f"{backend}.npz"], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        out[backend] = dict(np.load(tmp_path / f"{backend}.npz"))
    assert out["sim"]["linear"].shape == (1, 10)
    assert sorted(out["sim"]) == sorted(out["lava"]) and len(out["sim"]) > 5
    for name, arr in out["sim"].items():
        np.testing.assert_array_equal(out["lava"][name], arr, err_msg=name)


def test_compile_report_renders_with_the_deployment_charts(artifact, tmp_path):
    import re

    from test_report_html import browse

    root, _ = artifact
    page = tmp_path / "report.html"
    page.write_text((root / "art" / "report.html").read_text())
    dom = browse(tmp_path, page, "--dump-dom")
    # the energy report's three charts and the deployment's core-load and cycles charts
    assert re.search(r'<body[^>]*data-rendered="5"', dom)
    assert "chart-core-load" in dom and "Host partition" in dom and "cycle" in dom
