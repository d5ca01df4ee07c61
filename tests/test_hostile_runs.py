"""Hostile run inputs and sizes (issue 17): NaN/inf or empty input files, an .npy whose
header claims 2**40 elements, 10**12 samples or time steps, an input too large for the
machine: each refused *before* anything is allocated, naming the file or the figure
(bytes needed against free memory), exit code 2. And a model with no chip layer
compiles and runs (an empty chip partition) instead of crashing in the timing model."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib import format as npy_format
from onnx import helper

from hostile_helpers import lif, model, refused, refused_subprocess, save, snnc, x_info, y_info
from snnc.ir.limits import available_bytes


def _npy(path, arr) -> str:
    np.save(path, arr)
    return str(path)


def _lying_npy(path, shape=(2**40,)) -> str:
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
        f.write(b"\0" * 64)
    return str(path)


def _relu_chain(n: int):
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"a{i - 1}"], [f"a{i}" if i < n - 1 else "y"],
                              name=f"relu{i}") for i in range(n)]
    return model(nodes, [x_info()], [y_info()])


def _lif_reference(x: np.ndarray, tau=2.0, v_th=1.0) -> np.ndarray:
    """SpikingJelly's multi-step LIF, decay_input, hard reset to 0, written out here."""
    v, out = np.zeros(x.shape[1:], np.float32), []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / np.float32(tau)
        s = (h >= v_th).astype(np.float32)
        out.append(s)
        v = np.where(s > 0, 0.0, h).astype(np.float32)
    return np.stack(out)


@pytest.mark.parametrize("command", ["simulate", "compile", "run"])
def test_nan_and_inf_inputs_are_refused_naming_the_file(command, tmp_path, capsys):
    onnx_path = save(lif(), tmp_path / "m.onnx")
    target = onnx_path
    if command == "run":
        code, _, err = snnc(capsys, "compile", onnx_path, "-o", tmp_path / "art")
        assert code == 0, err
        target = tmp_path / "art"
    extra = ["-o", tmp_path / "out"] if command == "compile" else []
    for bad in (np.nan, np.inf):
        x = np.full((1, 4), 0.5, np.float32)
        x[0, 2] = bad
        npy = _npy(tmp_path / "bad.npy", x)
        refused(capsys, command, target, "--input", npy, *extra, causes=[npy, "1 NaN/inf value(s) of 4"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["simulate", "run"])
def test_lying_and_empty_npy_files_are_refused_before_reading(command, tmp_path, capsys):
    onnx_path = save(lif(), tmp_path / "m.onnx")
    target = onnx_path
    if command == "run":
        assert snnc(capsys, "compile", onnx_path, "-o", tmp_path / "art")[0] == 0
        target = tmp_path / "art"
    lying = _lying_npy(tmp_path / "lying.npy")
    refused(capsys, command, target, "--input", lying,
            causes=[lying, "claims shape [1099511627776] float32 (4.0 TiB)", "holds 64 B"])
    empty = _npy(tmp_path / "empty.npy", np.zeros((0, 4), np.float32))
    refused(capsys, command, target, "--input", empty, causes=[empty, "shape [0, 4]: it holds no values"])


def test_lying_npy_as_a_subprocess(tmp_path):
    lying = _lying_npy(tmp_path / "lying.npy")
    refused_subprocess("simulate", save(lif(), tmp_path / "m.onnx"), "--input", lying, causes=[lying, "4.0 TiB"])


def test_huge_sample_and_step_counts_are_refused_with_the_figure(tmp_path, capsys):
    path = save(lif(), tmp_path / "m.onnx")
    refused(capsys, "simulate", path, "--random-input", "--samples", 10**12,
            causes=["1000000000000 random sample(s) needs", "free memory"])
    refused(capsys, "compile", path, "-o", tmp_path / "out", "--samples", 10**12,
            causes=["1000000000000 random sample(s) needs", "free memory"])
    refused(capsys, "simulate", path, "-T", 10**12, causes=["over 1000000000000 step(s) needs", "free memory"])
    assert not (tmp_path / "out").exists()


def test_non_integer_counts_are_usage_errors(tmp_path, capsys):
    path = save(lif(), tmp_path / "m.onnx")
    for option in ("-T", "--samples"):
        code, _, err = snnc(capsys, "simulate", path, option, "1e9")
        assert code == 2 and "invalid int value: '1e9'" in err and "Traceback" not in err


def test_an_input_larger_than_memory_is_refused_before_allocating(tmp_path, capsys):
    """One sample of 60% of the free memory imports (it fits), but simulating it needs
    room for its activations too: refused with the figure, whatever the machine."""
    features = int(available_bytes() * 0.6) // 4
    proto = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [x_info(("N", features))], [y_info()])
    path = save(proto, tmp_path / "m.onnx")
    err = refused(capsys, "simulate", path, causes=["needs", "free memory"])
    assert "GiB" in err or "MiB" in err


def test_a_model_with_no_chip_layer_compiles_and_runs(tmp_path, capsys):
    """A LIF straight on the input: nothing for the chip (no synapses). compile used to
    crash in the timing model (argmax of an empty sequence); now the chip partition is
    empty and run computes the LIF on the host, equal to the reference above."""
    path = save(lif(), tmp_path / "m.onnx")
    code, out, err = snnc(capsys, "compile", path, "-o", tmp_path / "art", "-T", 6)
    assert code == 0, err
    assert "0 layers on 0 cores" in out
    x = np.random.default_rng(1).uniform(0, 2.5, (6, 3, 4)).astype(np.float32)
    code, _, err = snnc(capsys, "run", tmp_path / "art", "--input", _npy(tmp_path / "x.npy", x),
                        "-o", tmp_path / "y.npz")
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "y.npz")["y"], _lif_reference(x))


def test_a_long_relu_chain_compiles_and_runs(tmp_path, capsys):
    path = save(_relu_chain(300), tmp_path / "m.onnx")
    code, out, err = snnc(capsys, "compile", path, "-o", tmp_path / "art")
    assert code == 0, err
    x = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    code, _, err = snnc(capsys, "run", tmp_path / "art", "--input", _npy(tmp_path / "x.npy", x),
                        "-o", tmp_path / "y.npz")
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "y.npz")["y"], np.maximum(x, 0))


def test_max_memory_caps_the_checked_sizes(tmp_path, capsys):
    path = save(lif(), tmp_path / "m.onnx")
    # 100,000 samples of 4 float32, and two activations of 4 steps each: 9 x 1.6 MB = 13.7 MiB
    refused(capsys, "--max-memory", "1M", "simulate", path, "--samples", 100_000,
            causes=[f"100000 random sample(s) needs {9 * 100_000 * 16 / 2**20:.1f} MiB, "
                    "more than --max-memory 1.0 MiB"])
    code, out, err = snnc(capsys, "--max-memory", "1G", "simulate", path, "--samples", 100_000)
    assert code == 0, err
    code, _, err = snnc(capsys, "--max-memory", "lots", "simulate", path)
    assert code == 2 and "'lots' is not a size" in err


def test_an_npz_archive_is_refused_as_an_input(tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x=np.ones((1, 4), np.float32))
    refused(capsys, "simulate", save(lif(), tmp_path / "m.onnx"), "--input", tmp_path / "x.npz",
            causes=["x.npz is a numpy .npz archive"])
