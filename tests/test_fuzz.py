"""The seeded fuzz test of issue 17: a few hundred mutants of small valid ONNX files and
IR JSON documents (tests/fuzzing.py) through show, then simulate, check, opt or report
in turn, and compile every tenth, in-process.
Every run must end with exit code 0, 1 or 2 -- never snnc's "internal error" (70) or
a traceback -- and a refused run must leave nothing behind. ``benchmarks/fuzz.py``
runs thousands."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import fuzzing
from hostile_helpers import snnc

CASES = 250


@pytest.fixture
def one_gib(monkeypatch):
    """Bounds checked against 1 GiB of 'free memory': a mutant that passes them can never
    make this test allocate more, and the refusals are exercised at a smaller figure."""
    monkeypatch.setattr("snnc.ir.limits.available_bytes", lambda: 1 << 30)


def test_fuzzed_inputs_never_reach_the_internal_error_net(tmp_path, one_gib, capsys):
    outcome = fuzzing.fuzz(tmp_path, CASES, seed=17)
    with capsys.disabled():
        print(f"\nfuzz: {outcome.cases} mutated inputs, {outcome.runs} runs, exit codes {outcome.codes}, "
              f"{len(outcome.failures)} internal errors")
    assert outcome.failures == []
    assert outcome.cases == CASES
    assert set(outcome.codes) <= {0, 1, 2}
    # the mutants reach both ends: refusals, and models that still import and run
    assert outcome.codes.get(2, 0) > CASES // 2 and outcome.codes.get(0, 0) > 10


def test_the_mutator_changes_its_inputs_and_is_deterministic():
    models = fuzzing.seed_models()
    first = [fuzzing.mutate_onnx(models["snn"], np.random.default_rng(s)) for s in range(20)]
    again = [fuzzing.mutate_onnx(models["snn"], np.random.default_rng(s)) for s in range(20)]
    assert first == again
    original = models["snn"].SerializeToString()
    assert sum(data != original for data, _ in first) >= 18


def test_the_seed_mlp_is_valid_and_simulates_to_numpy(tmp_path, capsys):
    """The seeds are sound models: the MLP's simulated output equals x W1 + b1, ReLU, W2."""
    mlp = fuzzing.seed_models()["mlp"]
    path = tmp_path / "mlp.onnx"
    path.write_bytes(mlp.SerializeToString())
    w = {t.name: onnx.numpy_helper.to_array(t) for t in mlp.graph.initializer}
    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, _, err = snnc(capsys, "simulate", path, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npz")
    assert code == 0, err
    want = np.maximum(x @ w["w1"] + w["b1"], 0) @ w["w2"]
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], want, rtol=1e-5, atol=1e-6)
