"""Loihi numerics as a registered pass: ``loihi-quantize`` declares ``fold-bn`` as its
prerequisite, the pipeline schedules it, and ``snnc simulate --numerics loihi`` runs the
pass instead of folding BatchNorm by hand (the simulator itself quantises nothing)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.kinds import SPIKE
from snnc.ir.serialize import to_json
from snnc.passes import PASSES, parse_pipeline, register, run_pipeline


def _names(pipeline: str) -> list[str]:
    return [p.name for p in parse_pipeline(pipeline)]


def test_prerequisite_is_scheduled_once_and_before():
    assert PASSES["loihi-quantize"].requires == ("fold-bias", "fold-bn")
    assert _names("loihi-quantize") == ["fold-bias", "fold-bn", "loihi-quantize"]
    assert _names("dce,loihi-quantize") == ["dce", "fold-bias", "fold-bn", "loihi-quantize"]
    assert _names("fold-bias,fold-bn,dce,loihi-quantize") == ["fold-bias", "fold-bn", "dce", "loihi-quantize"]
    # a prerequisite named *after* the pass does not count: it must have run before
    assert _names("fold-bias,loihi-quantize,fold-bn") == ["fold-bias", "fold-bn", "loihi-quantize", "fold-bn"]


def test_prerequisites_that_require_each_other_are_a_bug():
    register("t-a", requires=("t-b",))(lambda g, log=None: g)
    register("t-b", requires=("t-a",))(lambda g, log=None: g)
    try:
        with pytest.raises(ValueError, match="t-a -> t-b -> t-a require each other"):
            parse_pipeline("t-a")
    finally:
        del PASSES["t-a"], PASSES["t-b"]


def test_options_must_name_a_pass_that_runs():
    with pytest.raises(ValueError, match=r"options for pass\(es\) the pipeline does not run: \['dce'\]"):
        run_pipeline(Graph("empty"), "fold-bn", options={"dce": {}})


def _conv_bn_lif(rng, bn: bool) -> Graph:
    """conv -> batchnorm -> lif with random parameters; ``bn=False`` folds the BatchNorm
    here, in numpy, by W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β (per channel)."""
    w = rng.normal(0.2, 0.4, (4, 2, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, 4).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.normal(0, 0.1, 4)
    mean, var = rng.normal(0, 0.1, 4), rng.uniform(0.5, 2.0, 4)
    g = Graph("cbl")
    g.add_input(Value("x", (2, 6, 6), kind=SPIKE))
    if bn:
        emit(g, "conv", ["x"], name="conv", params={"weight": w, "bias": b}, attrs={"pads": [1] * 4})
        emit(g, "batchnorm", ["conv"], name="bn", params={
            "scale": gamma.astype(np.float32), "bias": beta.astype(np.float32),
            "mean": mean.astype(np.float32), "var": var.astype(np.float32)})
        emit(g, "lif", ["bn"], name="lif")
    else:
        f = gamma / np.sqrt(var + np.float64(np.float32(1e-5)))
        emit(g, "conv", ["x"], name="conv", attrs={"pads": [1] * 4}, params={
            "weight": (w * f[:, None, None, None]).astype(np.float32),
            "bias": ((b - mean) * f + beta).astype(np.float32)})
        emit(g, "lif", ["conv"], name="lif")
    g.outputs = ["lif"]
    return g


def _simulate(tmp_path, graph: Graph, x: np.ndarray, tag: str, numerics: str) -> np.ndarray:
    model, xs, out = tmp_path / f"{tag}.json", tmp_path / f"{tag}_x.npy", tmp_path / f"{tag}_{numerics}.npz"
    model.write_text(to_json(graph))
    np.save(xs, x)
    r = subprocess.run([sys.executable, "-m", "snnc", "simulate", str(model), "--input", str(xs),
                        "--numerics", numerics, "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"numerics {numerics}" in r.stdout
    return np.load(out)["lif"]


def test_simulate_loihi_folds_batchnorm_through_the_pass(tmp_path, rng):
    """The CLI on a conv-BN-LIF model equals the CLI on the same model folded in numpy
    here: the pass ran fold-bn first (quantising an unfolded BatchNorm is an error)."""
    x = (rng.random((6, 3, 2, 6, 6)) < 0.5).astype(np.float32)
    with_bn = _simulate(tmp_path, _conv_bn_lif(np.random.default_rng(7), True), x, "bn", "loihi")
    folded = _simulate(tmp_path, _conv_bn_lif(np.random.default_rng(7), False), x, "folded", "loihi")
    assert with_bn.shape == (6, 3, 4, 6, 6) and set(np.unique(with_bn)) <= {0.0, 1.0}
    assert with_bn.any() and np.array_equal(with_bn, folded)
    # and the integer program is not the float one: the float run differs somewhere
    # (Loihi's synapses deliver one step late, so step 0 of the loihi run is silent)
    float_run = _simulate(tmp_path, _conv_bn_lif(np.random.default_rng(7), True), x, "bn", "float")
    assert not with_bn[0].any() and float_run[0].any()
