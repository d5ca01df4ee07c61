"""``snnc evaluate`` (issue 14): its table against figures computed here from onnxruntime
running the converted file and PyTorch running the ANN."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import require

from onnx_helpers import neuron_nodes, run_ort

torch = require("torch")
require("sklearn")
SNNC = [sys.executable, "-m", "snnc"]
STEPS = [1, 2, 4, 8, 16]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from sklearn.datasets import load_digits

    tmp = tmp_path_factory.mktemp("eval")
    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(64, 40), torch.nn.ReLU(), torch.nn.Linear(40, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.from_numpy(x[:1400])), torch.from_numpy(y[:1400])).backward()
        opt.step()
    model.eval()
    torch.onnx.export(model, (torch.zeros(1, 64),), str(tmp / "ann.onnx"), input_names=["x"], opset_version=17,
                      dynamo=False, dynamic_axes={"x": {0: "n"}})
    np.save(tmp / "calib.npy", x[:200])
    np.save(tmp / "test.npy", x[1400:1700])
    np.save(tmp / "y.npy", y[1400:1700])
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"),
                               "-o", str(tmp / "snn.onnx")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return tmp, model, x[1400:1700], y[1400:1700]


def _evaluate(tmp, *extra):
    return subprocess.run(SNNC + ["evaluate", str(tmp / "snn.onnx"), "--ann", str(tmp / "ann.onnx"), "--data",
                                  str(tmp / "test.npy"), "-T", ",".join(map(str, STEPS)), *extra],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def table(converted):
    """The JSON table of one worker, batches of 70 (the last one short): the figures test
    checks it, the Ray test compares two workers' table with it."""
    return _evaluate(converted[0], "--labels", str(converted[0] / "y.npy"), "--format", "json", "--batch-size", "70")


def test_table_matches_onnxruntime_and_torch(converted, table):
    tmp, model, x, y = converted
    r = table
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    with torch.no_grad():
        ann = model(torch.from_numpy(x)).numpy()
    assert report["ann"]["accuracy"] == pytest.approx((ann.argmax(1) == y).mean())
    assert report["ann"]["macs"] == 64 * 40 + 40 * 10
    snn = onnx.load(str(tmp / "snn.onnx"))
    (neuron,) = neuron_nodes(snn)
    feeds = {snn.graph.input[0].name: np.broadcast_to(x, (STEPS[-1], *x.shape)).copy()}
    outs = run_ort(snn, feeds, outputs=[neuron.output[0]])
    spikes, out = outs[neuron.output[0]], outs[snn.graph.output[0].name]
    for row in report["rows"]:
        t = row["T"]
        mean = out[:t].mean(0)
        assert row["accuracy"] == pytest.approx((mean.argmax(1) == y).mean())
        assert row["agreement"] == pytest.approx((mean.argmax(1) == ann.argmax(1)).mean())
        assert row["firing_rate"] == pytest.approx(spikes[:t].mean(), rel=1e-6)
        # 45 nm: the first layer reads the analog image at every step (MACs), the head
        # reads spikes (one AC per spike per fan-out of 10)
        macs, acs = t * 64 * 40, spikes[:t].sum() / len(x) * 10
        assert row["energy_synaptic_pj"] == pytest.approx(4.6 * macs + 0.9 * acs, rel=1e-9)
        assert row["ratio_synaptic"] == pytest.approx(row["energy_synaptic_pj"] / (4.6 * (64 * 40 + 40 * 10)))
    agree = [row["agreement"] for row in report["rows"]]
    assert agree[0] < agree[-1] and agree[-1] > 0.95


def test_formats_and_outputs(converted):
    tmp, *_ = converted
    r = _evaluate(tmp, "--labels", str(tmp / "y.npy"))
    assert r.returncode == 0 and "energy ratio, synaptic" in r.stdout and "T=16" in r.stdout
    r = _evaluate(tmp, "--format", "csv", "-o", str(tmp / "e.csv"))
    assert r.returncode == 0, r.stderr
    lines = (tmp / "e.csv").read_text().splitlines()
    assert lines[0].startswith("T,accuracy") and len(lines) == 1 + len(STEPS)
    r = _evaluate(tmp, "--format", "html", "-o", str(tmp / "e.html"))
    page = (tmp / "e.html").read_text()
    assert r.returncode == 0 and page.count("<svg") == 2 and "<polyline" in page
    r = _evaluate(tmp, "--format", "html", "-o", str(tmp / "e.html"))
    assert r.returncode == 2 and "--force" in r.stderr


@pytest.mark.parametrize("args, needle", [
    (["-T", "0,2"], "time steps >= 1"),
    (["-T", "a"], "comma-separated"),
    (["--labels", "{tmp}/calib.npy"], "labels must be 300 integers"),
    (["--workers", "0"], "--workers must be >= 1"),
])
def test_bad_arguments_are_one_line(converted, args, needle):
    tmp, *_ = converted
    r = _evaluate(tmp, *[a.format(tmp=tmp) for a in args])
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_ray_workers_give_the_same_table_to_the_last_count(converted, table):
    require("ray")
    tmp, *_ = converted
    one = table     # the same arguments, one worker: batches of 70, so the workers' shares differ
    two = _evaluate(tmp, "--labels", str(tmp / "y.npy"), "--format", "json", "--batch-size", "70", "--workers", "2")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert (a.pop("workers"), b.pop("workers")) == (1, 2)
    assert a == b


def test_target_agreement_picks_the_smallest_t_that_reaches_it(converted):
    tmp, model, x, _ = converted
    r = _evaluate(tmp, "--target-agreement", "0.9", "--format", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    snn = onnx.load(str(tmp / "snn.onnx"))
    out = next(iter(run_ort(snn, {snn.graph.input[0].name: np.broadcast_to(x, (16, *x.shape)).copy()}).values()))
    with torch.no_grad():
        ann = model(torch.from_numpy(x)).numpy().argmax(1)
    agree = [(out[:t].mean(0).argmax(1) == ann).mean() for t in range(1, 17)]
    assert report["target"]["T"] == 1 + next(i for i, a in enumerate(agree) if a >= 0.9)
    assert [row["T"] for row in report["rows"]] == list(range(1, 17))
    r = _evaluate(tmp, "--target-agreement", "1.5")
    assert r.returncode == 2 and "(0, 1]" in r.stderr


def test_convert_target_agreement_searches_levels(converted):
    tmp, *_ = converted
    out = tmp / "snn_target.onnx"
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o", str(out),
                               "--method", "ecmt", "--target-agreement", "0.9", "--data", str(tmp / "test.npy"),
                               "-T", "8"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "target agreement 0.9: chose n = " in r.stdout and "n = 2:" in r.stdout and out.exists()
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o",
                               str(tmp / "x.onnx"), "--target-agreement", "0.9"], capture_output=True, text=True)
    assert r.returncode == 2 and "needs --data" in r.stderr


def test_write_levels_needs_a_target_and_multi_threshold_neurons(converted):
    """A relu-if SNN has IF neurons only: --write-levels is one line, exit 2, nothing written."""
    tmp, *_ = converted
    out = tmp / "levels.json"
    r = _evaluate(tmp, "--write-levels", str(out))
    assert r.returncode == 2 and "--target-agreement" in r.stderr and not out.exists(), r.stderr
    r = _evaluate(tmp, "--target-agreement", "0.9", "--write-levels", str(out), "--write-snn", str(tmp / "w.onnx"))
    assert r.returncode == 2 and "no multi-threshold neurons" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() and not (tmp / "w.onnx").exists()
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o",
                               str(tmp / "c.onnx"), "--target-agreement", "0.9", "--data", str(tmp / "test.npy"),
                               "--write-levels", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "relu-if" in r.stderr and not out.exists() and not (tmp / "c.onnx").exists()
