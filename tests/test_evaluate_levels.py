"""``snnc evaluate --target-agreement X`` (issue 14): the smallest T, then per-layer levels of
the multi-threshold neurons, on the digits CNN converted with ecmt. Every figure the search
reports is recomputed here with onnxruntime running the converted and the tuned files and
PyTorch running the ANN."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import require

from onnx_helpers import run_ort
from html_sections import data_tables

torch = require("torch")
SNNC = [sys.executable, "-m", "snnc"]
TARGET, T_MAX = 0.99, 16


def _mt_levels(proto: onnx.ModelProto) -> list[int]:
    return [next(a.i for a in n.attribute if a.name == "levels") for n in proto.graph.node
            if n.op_type == "MultiThreshold"]


def _agreement(proto: onnx.ModelProto, x: np.ndarray, ann_top: np.ndarray) -> np.ndarray:
    """Top-1 agreement with the ANN of the running mean of onnxruntime's outputs, per T."""
    out = next(iter(run_ort(proto, {proto.graph.input[0].name: np.broadcast_to(x, (T_MAX, *x.shape)).copy()}).values()))
    mean = np.cumsum(out.astype(np.float64), axis=0) / np.arange(1, T_MAX + 1)[:, None, None]
    return (mean.argmax(-1) == ann_top).mean(-1)


@pytest.fixture(scope="module")
def searched(digits_cnn):
    tmp, model = digits_cnn
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o",
                               str(tmp / "snn_ecmt.onnx"), "--method", "ecmt"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(SNNC + ["evaluate", str(tmp / "snn_ecmt.onnx"), "--ann", str(tmp / "ann.onnx"), "--data",
                               str(tmp / "test.npy"), "-T", str(T_MAX), "--target-agreement", str(TARGET),
                               "--format", "json", "--write-snn", str(tmp / "tuned.onnx"),
                               "--write-levels", str(tmp / "levels.json")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x = np.load(tmp / "test.npy")
    with torch.no_grad():
        ann_top = model(torch.from_numpy(x)).numpy().argmax(1)
    return tmp, json.loads(r.stdout)["target"], x, ann_top


def test_search_lowers_levels_and_the_tuned_file_reaches_the_target(searched):
    tmp, target, x, ann_top = searched
    start = onnx.load(str(tmp / "snn_ecmt.onnx"))
    agree = _agreement(start, x, ann_top)
    T = target["T"]
    assert T == 1 + next(i for i, a in enumerate(agree) if a >= TARGET)      # the smallest T at n = 8
    assert target["before"]["agreement"] == pytest.approx(agree[T - 1])
    assert set(target["levels_start"].values()) == {8}
    assert target["levels"].keys() == target["levels_start"].keys()
    assert all(n <= target["levels_start"][k] for k, n in target["levels"].items())
    assert target["levels"] != target["levels_start"]        # the digits CNN has slack at T: some layer lowered
    tuned = onnx.load(str(tmp / "tuned.onnx"))
    assert _mt_levels(tuned) == list(target["levels"].values())
    tuned_agree = _agreement(tuned, x, ann_top)[T - 1]
    assert tuned_agree >= TARGET and target["after"]["agreement"] == pytest.approx(tuned_agree)
    assert target["after"]["energy_synaptic_pj"] <= target["before"]["energy_synaptic_pj"]
    assert target["payload_bits_after"] < target["payload_bits_before"]


def test_the_first_refused_level_misses_the_target(searched):
    """The greedy stops a layer at the first lower n that fails: onnxruntime on the tuned file
    with that layer one payload bit lower agrees less than the target (or costs more)."""
    tmp, target, x, ann_top = searched
    refused = [t for t in target["trials"] if not t["kept"]]
    assert refused          # at 0.99, n = 1 loses agreement on the digits CNN
    i = target["trials"].index(refused[0])
    state = dict(target["levels_start"])              # the levels when the refused trial ran
    for trial in target["trials"][:i]:
        state[trial["layer"]] = trial["levels"]
    state[refused[0]["layer"]] = refused[0]["levels"]
    proto = onnx.load(str(tmp / "snn_ecmt.onnx"))
    for node, n in zip([n for n in proto.graph.node if n.op_type == "MultiThreshold"], state.values()):
        next(a for a in node.attribute if a.name == "levels").i = n
    agree = _agreement(proto, x, ann_top)[target["T"] - 1]
    assert refused[0]["agreement"] == pytest.approx(agree)
    assert agree < TARGET or refused[0]["energy_synaptic_pj"] > target["before"]["energy_synaptic_pj"]


def test_unreachable_target_and_outputs_are_one_line_errors(searched, digits_cnn):
    tmp, *_ = searched

    def evaluate(*extra):
        return subprocess.run(SNNC + ["evaluate", str(tmp / "snn_ecmt.onnx"), "--ann", str(tmp / "ann.onnx"),
                                      "--data", str(tmp / "test.npy"), *extra], capture_output=True, text=True)

    r = evaluate("-T", "2", "--target-agreement", "1")
    assert r.returncode == 2 and "reaches agreement 1" in r.stderr and "best 0." in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    r = evaluate("-T", "2", "--target-agreement", "0.5", "--write-snn", str(tmp / "tuned.onnx"))
    assert r.returncode == 2 and "--force" in r.stderr, r.stderr
    r = evaluate("-T", "2", "--write-snn", str(tmp / "other.onnx"))
    assert r.returncode == 2 and "--target-agreement" in r.stderr and not (tmp / "other.onnx").exists()


def test_table_names_the_levels_chosen(searched):
    tmp, target, *_ = searched
    r = subprocess.run(SNNC + ["evaluate", str(tmp / "snn_ecmt.onnx"), "--ann", str(tmp / "ann.onnx"), "--data",
                               str(tmp / "test.npy"), "-T", str(target["T"]), "--target-agreement", str(TARGET)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"levels per layer at T = {target['T']}" in r.stdout
    for name, n in target["levels"].items():
        assert f"{name}: {target['levels_start'][name]}" + (f" -> {n}" if n != 8 else "") in r.stdout


def test_payload_widths():
    from snnc.conversion.level_search import next_width, payload_bits

    # sign + exponent k < n: n = 1 is the sign alone, 2 one bit of k, 3-4 two, 5-8 three
    assert [payload_bits(n) for n in (1, 2, 3, 4, 5, 8, 9)] == [1, 2, 3, 3, 4, 4, 5]
    assert [next_width(n) for n in (8, 6, 5, 4, 3, 2, 1)] == [4, 4, 4, 2, 2, 1, None]


def _mt_attrs(proto: onnx.ModelProto) -> dict[str, dict]:
    return {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            for n in proto.graph.node if n.op_type == "MultiThreshold"}


def test_levels_file_round_trips_through_convert(searched):
    """--write-levels keys the neurons by the layer names --thresholds takes: converting the
    ANN with that file rebuilds the SNN evaluate wrote (same levels and thresholds per
    neuron, the same outputs on onnxruntime)."""
    tmp, target, x, _ = searched
    levels = json.loads((tmp / "levels.json").read_text())
    assert {k: v["levels"] for k, v in levels.items()} == target["levels"]
    tuned = onnx.load(str(tmp / "tuned.onnx"))
    assert sorted(levels) == sorted(name.rsplit(".mt", 1)[0] for name in _mt_attrs(tuned))   # the layer, input 0
    # other calibration data on purpose: the file carries the thresholds, not only the levels
    np.save(tmp / "other_calib.npy", x[:50] * 0.5)
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "other_calib.npy"), "-o",
                               str(tmp / "rebuilt.onnx"), "--method", "ecmt", "--thresholds", str(tmp / "levels.json")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rebuilt = onnx.load(str(tmp / "rebuilt.onnx"))
    assert _mt_attrs(rebuilt) == _mt_attrs(tuned)
    feeds = {tuned.graph.input[0].name: np.broadcast_to(x, (4, *x.shape)).copy()}
    a, b = run_ort(tuned, feeds), run_ort(rebuilt, feeds)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _evaluate_target(tmp, fmt: str) -> str:
    r = subprocess.run(SNNC + ["evaluate", str(tmp / "snn_ecmt.onnx"), "--ann", str(tmp / "ann.onnx"), "--data",
                               str(tmp / "test.npy"), "-T", str(T_MAX), "--target-agreement", str(TARGET),
                               "--format", fmt], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _number(cell: str):
    return None if cell == "" else (int(cell) if cell.lstrip("-").isdigit() else float(cell))


def test_csv_has_the_target_section_of_the_json(searched):
    tmp, target, *_ = searched
    blocks = [[]]
    for row in csv.reader(_evaluate_target(tmp, "csv").rstrip().splitlines()):   # print adds a newline
        if row:
            blocks[-1].append(row)
        else:
            blocks.append([])
    table, choice, figures, levels = blocks
    assert len(table) == 1 + T_MAX and table[0][0] == "T"
    assert choice == [["target_agreement", "measure", "T"], [str(TARGET), "top1", str(target["T"])]]
    header = figures[0]
    assert [r[0] for r in figures[1:]] == ["before", "after"]
    for row in figures[1:]:
        stage = row[0]
        values = dict(zip(header[1:], map(_number, row[1:])))
        assert values.pop("payload_bits") == target[f"payload_bits_{stage}"]
        assert values == target[stage]
    assert levels[0] == ["layer", "levels_start", "levels"]
    assert {r[0]: (int(r[1]), int(r[2])) for r in levels[1:]} == {
        k: (target["levels_start"][k], n) for k, n in target["levels"].items()}


def test_html_has_the_target_section_of_the_json(searched):
    tmp, target, *_ = searched
    page = _evaluate_target(tmp, "html")
    tables = data_tables(page, "target")
    (choice,) = tables["target-choice"]
    assert choice == {"target_agreement": repr(TARGET), "measure": "top1", "T": str(target["T"])}
    figures = tables["target-figures"]
    assert [r["stage"] for r in figures] == ["before", "after"]
    for row in figures:
        stage = row.pop("stage")
        assert float(row.pop("payload_bits")) == target[f"payload_bits_{stage}"]
        assert {k: (None if v is None else float(v)) for k, v in row.items()} == target[stage]
    assert {r["layer"]: (int(r["levels_start"]), int(r["levels"])) for r in tables["target-levels"]} == {
        k: (target["levels_start"][k], n) for k, n in target["levels"].items()}
