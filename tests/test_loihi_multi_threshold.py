"""ECMT's multi-threshold neuron on the Loihi 2 chip (issues 13, 15): the ``loihi_mt`` op's
integer numerics and the Lava process against a reference written here from the ECMT
neuron's definition, an ECMT-converted CNN verified spike for spike between the
simulator and Lava with its neurons on chip, and Loihi 1's refusal."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import require

from snnc.backends.loihi.run import run_loihi
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.interpret import run
from snnc.ir.kinds import Kind

SNNC = [sys.executable, "-m", "snnc"]


def reference_mt(a, theta_pos, theta_neg, levels, gap=2, bias=0, start=0, unit=1):
    """The ECMT neuron on integers, one neuron at a time in Python ints: V += input; fire
    the LARGEST level λ = θ·gap^k (k < levels) with V >= λ − θ/2 (tested as 2V >= 2λ − θ,
    so no rounding enters), else the largest −λ with −V >= λ − θ/2; V −= the spike; the
    output is the spike over ``unit``. Idle (V = 0) before step ``start``."""
    a = np.asarray(a)
    tp = np.broadcast_to(theta_pos, a.shape[2:])
    tn = np.broadcast_to(theta_neg, a.shape[2:])
    b = np.broadcast_to(bias, a.shape[2:])
    out = np.zeros(a.shape, np.int64)
    for n in range(a.shape[1]):
        for idx in np.ndindex(a.shape[2:]):
            v = 0
            for t in range(start, a.shape[0]):
                v = min(max(v + int(a[(t, n, *idx)]) + int(b[idx]), -(2 ** 23 - 1)), 2 ** 23 - 1)
                s = 0
                for k in reversed(range(levels)):
                    lam = int(tp[idx]) * gap ** k
                    if 2 * v >= 2 * lam - int(tp[idx]):
                        s = lam
                        break
                if s == 0:
                    for k in reversed(range(levels)):
                        lam = int(tn[idx]) * gap ** k
                        if -2 * v >= 2 * lam - int(tn[idx]):
                            s = -lam
                            break
                v -= s
                out[(t, n, *idx)] = s // unit
    return out


def _mt_graph(shape, params, attrs, *, through_dense=False):
    """x -> [loihi_dense identity, graded] -> loihi_mt ``y``."""
    g = Graph("mt")
    g.add_input(Value("x", shape, dtype="int32", kind=Kind.of(range(-64, 65))))
    src = "x"
    if through_dense:
        emit(g, "loihi_dense", ["x"], name="d", attrs={"num_message_bits": 8},
             params={"weight": np.eye(shape[-1], dtype=np.int32)})
        src = "d"
    emit(g, "loihi_mt", [src], name="y", params=params, attrs=attrs)
    g.outputs = ["y"]
    return g


def _case(seed: int):
    rng = np.random.default_rng(seed)
    c = 6
    tp = np.array([4, 5, 6, 7, 8, 9], np.int32)           # odd and even: θ/2 a half-integer or not
    tn = np.array([3, 4, 10, 5, 2, 8], np.int32)
    bias = rng.integers(-2, 3, c).astype(np.int32)
    x = rng.integers(-40, 41, (12, 3, c)).astype(np.int32)
    x[rng.random(x.shape) < 0.3] = 0
    x[0, 0] = tp - tp // 2 - bias                           # V lands exactly on λ₀ − ⌊θ/2⌋: ties
    return x, {"theta_pos": tp, "theta_neg": tn, "bias": bias}, tp, tn, bias


@pytest.mark.parametrize("seed", range(3))
def test_loihi_mt_numerics_equal_the_reference(seed):
    x, params, tp, tn, bias = _case(seed)
    attrs = {"levels": 4, "gap": 2, "start": seed % 2}
    got = run(_mt_graph((6,), params, attrs), {"x": x})["y"]
    want = reference_mt(x, tp, tn, 4, bias=bias, start=seed % 2)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int32 and (got > 0).any() and (got < 0).any()
    assert (np.abs(got) >= 2 * tp.min()).any()               # higher levels fire too
    if seed % 2 == 0:   # the tie fires level 0 at step 0
        np.testing.assert_array_equal(got[0, 0], tp)


def test_loihi_mt_payload_unit_divides_the_levels():
    rng = np.random.default_rng(7)
    x = rng.integers(-90, 91, (10, 2, 4)).astype(np.int32)
    params = {"theta_pos": np.full(4, 12, np.int32), "theta_neg": np.full(4, 12, np.int32)}
    got = run(_mt_graph((4,), params, {"levels": 3, "unit": 12}), {"x": x})["y"]
    np.testing.assert_array_equal(got, reference_mt(x, 12, 12, 3, unit=12))
    assert set(np.unique(got)) <= {-4, -2, -1, 0, 1, 2, 4}


@pytest.mark.lava
def test_lava_multi_threshold_process_equals_the_reference(lava):
    """The Lava process (lava_procs/multi_threshold.py) behind a Lava Dense that carries
    graded spikes: what Lava's fixed_pt run sends equals the reference on the input the
    Dense delivers one step late."""
    x, params, tp, tn, bias = _case(1)
    g = _mt_graph((6,), params, {"levels": 4, "gap": 2, "start": 1}, through_dense=True)
    got = run_loihi(g, {"x": x}, engine="lava", timeout=300).values["y"]
    delayed = np.concatenate([np.zeros_like(x[:1]), x[:-1]])
    want = reference_mt(delayed, tp, tn, 4, bias=bias, start=1)
    np.testing.assert_array_equal(got, want)
    assert (got != 0).mean() > 0.2


# -- an ECMT-converted CNN ---------------------------------------------------------------
@pytest.fixture(scope="module")
def converted_cnn(tmp_path_factory):
    torch = require("torch")
    from torch import nn

    root = tmp_path_factory.mktemp("ecmt_cnn")
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(6 * 3 * 3, 3)).eval()
    x = np.random.default_rng(0).random((16, 1, 6, 6)).astype(np.float32)
    np.save(root / "calib.npy", x)
    torch.onnx.export(ann, torch.from_numpy(x[:1]), str(root / "ann.onnx"), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}}, dynamo=False)
    r = subprocess.run(SNNC + ["convert", str(root / "ann.onnx"), "--calib", str(root / "calib.npy"), "-o",
                               str(root / "snn.onnx"), "--method", "ecmt"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from snnc.onnx.importer import import_onnx

    mts = [n.name for n in import_onnx(str(root / "snn.onnx")).nodes if n.op == "multi_threshold"]
    assert mts
    return root, mts


@pytest.mark.lava
def test_verify_converted_cnn_with_multi_threshold_on_chip(converted_cnn, lava):
    root, mts = converted_cnn
    r = subprocess.run(SNNC + ["verify", str(root / "snn.onnx"), "--target", "loihi", "--samples", "2",
                               "--timesteps", "6", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    rows = {row["layer"]: row for row in report["layers"]}
    quant = report["quantization"]
    on_chip = {layer["neuron"] for layer in quant["layers"] if layer["neuron_op"] == "multi_threshold"}
    assert set(mts) <= on_chip
    for layer in quant["layers"]:
        if layer["neuron_op"] is None:          # a synapse reading the neurons' graded payload
            assert layer["input"].startswith("graded(")
    for mt in mts:          # outputs of the float neurons, compared with the chip's payload
        assert rows[mt]["lava_equals_loihi"] and rows[mt]["rate_loihi"] > 0.05
        assert rows[mt]["float_loihi_agreement"] > 0.9
    assert report["bit_exact"]


def test_compile_counts_multi_threshold_neurons_on_chip(converted_cnn, tmp_path):
    root, mts = converted_cnn
    r = subprocess.run(SNNC + ["compile", str(root / "snn.onnx"), "--target", "loihi2", "-o", str(tmp_path / "o"),
                               "--no-simulate"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    mapping = json.loads((tmp_path / "o" / "mapping.json").read_text())
    neurons = set(mapping["layers"].values())
    host = {h["node"] for h in mapping["host"]}
    assert set(mts) <= neurons and not set(mts) & host
    tiles = [t for core in mapping["cores"] for t in core["tiles"] if t["neuron"] in mts]
    assert tiles and all(t["needs"]["neurons"] > 0 for t in tiles)


def test_loihi1_refuses_graded_spike_neurons_by_name(converted_cnn, tmp_path):
    root, mts = converted_cnn
    r = subprocess.run(SNNC + ["compile", str(root / "snn.onnx"), "--target", "loihi1", "-o", str(tmp_path / "o"),
                               "--no-simulate"], capture_output=True, text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnc: error:"), r.stderr
    assert repr(mts[0]) in lines[0] and "emits graded spikes, which loihi1 cannot carry: use --target loihi2" \
        in lines[0]
    assert not (tmp_path / "o").exists()


def test_concat_of_graded_spikes_stays_graded():
    """Tiles of a multi-threshold layer are joined by concat (partition.py): the join is
    still one signed graded spike per element and step, of the most levels."""
    from snnc.ir.kinds import graded_spikes

    g = Graph("cat")
    g.add_input(Value("a", (2, 3), kind=graded_spikes(3, 2.0, 0.5, 0.5), axes="TN"))
    g.add_input(Value("b", (2, 3), kind=graded_spikes(4, 2.0, [0.1, 0.2], 0.3), axes="TN"))
    g.add_input(Value("s", (2, 3), kind=Kind.of([0.0, 1.0]), axes="TN"))
    emit(g, "concat", ["a", "b"], name="ab", attrs={"axis": 0})
    emit(g, "concat", ["a", "s"], name="as", attrs={"axis": 0})
    kind = g.values["ab"].kind
    assert kind.is_graded_spike and kind.spike_levels == 4 and kind.name == "graded(levels=4)"
    assert {0.5 * 4, -0.3 * 8, 0.0} <= {round(v, 6) for v in kind.levels}
    assert not g.values["as"].kind.is_graded_spike          # with binary spikes: plain levels


@pytest.mark.parametrize("gap", [2, 3])
def test_input_bound_caps_the_levels_it_can_fire(gap):
    """With |input + bias| <= input_max at every step, the kind (what readers budget for)
    holds every payload the reference fires, on random and on sustained extreme inputs,
    and leaves out the ladder's top levels (the bound is useful)."""
    rng = np.random.default_rng(gap)
    m = 40
    tp, tn = np.array([3, 4, 7, 10], np.int32), np.array([5, 2, 6, 9], np.int32)
    bias = np.array([2, -2, 0, 1], np.int32)
    x = np.concatenate([rng.integers(-38, 39, (30, 2, 4)), np.full((10, 2, 4), 38), np.full((10, 2, 4), -38),
                        np.tile(np.array([38, -38])[:, None, None], (10, 2, 4))]).astype(np.int32)
    g = _mt_graph((4,), {"theta_pos": tp, "theta_neg": tn, "bias": bias},
                  {"levels": 6, "gap": gap, "input_max": m + 2})
    levels = g.values["y"].kind.levels
    want = reference_mt(x, tp, tn, 6, gap=gap, bias=bias)
    assert set(np.unique(want).tolist()) <= levels
    assert max(levels) < int(tp.max()) * gap ** 5
    np.testing.assert_array_equal(run(g, {"x": x})["y"], want)
