"""Golden before/after files for the rewriting passes: for small graphs built here, what
``snnc show`` prints before, what ``snnc opt --passes P`` reports, and what ``snnc show``
prints after, against ``tests/golden/<case>.txt`` (written once, reviewed, committed).

Text compares exactly; numbers (the folded biases and thresholds the printer shows) with a
relative tolerance, so a last-digit change in float rounding is not a failure but a
wrong fold is. A few folded numbers are also recomputed here from the pass's formula
(docs/passes.md), so the golden files are not the only witness.

Regenerate after an intended change:  SNNC_UPDATE_GOLDEN=1 pytest tests/test_pass_golden.py
(or ``pytest --update-golden``), then review ``git diff tests/golden``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from snnc.cli import main
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.kinds import SPIKE
from snnc.ir.serialize import to_json

GOLDEN = Path(__file__).parent / "golden"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
F = np.float32


def _const(g, name, value):
    return emit(g, "constant", [], name=name, params={"value": np.asarray(value, F)}).outputs[0]


def fold_bn_case() -> Graph:
    """conv+BN -> LIF (folds), linear+BN1d -> IF (folds), a BN on the graph input (stays)."""
    rng = np.random.default_rng(1)
    g = Graph("fold_bn")
    g.add_input(Value("x", (2, 4, 4), kind=SPIKE, axes="TN"))
    g.add_input(Value("a", (3,), axes="TN"))
    def bn(c):
        return {"scale": np.array([0.5, -2.0, 1.5][:c], F), "bias": np.array([0.25, 0.0, -1.0][:c], F),
                "mean": np.array([1.0, -0.5, 0.0][:c], F), "var": np.array([0.25, 4.0, 1.0][:c], F)}
    emit(g, "conv", ["x"], name="conv", attrs={"pads": [1] * 4},
         params={"weight": rng.normal(size=(2, 2, 3, 3)).astype(F), "bias": np.array([0.5, -1.0], F)})
    emit(g, "batchnorm", ["conv"], name="bn", params=bn(2), attrs={"epsilon": 0.0})
    emit(g, "lif", ["bn"], name="lif", attrs={"tau": 2.0})
    emit(g, "reshape", ["lif"], name="flat", attrs={"shape": [32]})
    emit(g, "linear", ["flat"], name="fc", params={"weight": rng.normal(size=(3, 32)).astype(F)})
    emit(g, "batchnorm", ["fc"], name="bn1d", params=bn(3), attrs={"epsilon": 0.0})
    emit(g, "if", ["bn1d"], name="out")
    emit(g, "batchnorm", ["a"], name="bn_in", params=bn(3))
    g.outputs = ["out", "bn_in"]
    return g


def fold_scale_case() -> Graph:
    """A scalar 0.5 -> LIF threshold 2; a per-channel scale -> the conv's weights; a
    negative scale of a linear's output before a v_reset != 0 neuron -> the linear's
    weights; the same scale of the graph input stays (no layer to take it)."""
    rng = np.random.default_rng(2)
    g = Graph("fold_scale")
    g.add_input(Value("x", (6,), kind=SPIKE, axes="TN"))
    emit(g, "linear", ["x"], name="fc", params={"weight": rng.normal(size=(4, 6)).astype(F)})
    emit(g, "mul", ["fc", _const(g, "half", 0.5)], name="scaled")
    emit(g, "lif", ["scaled"], name="lif", attrs={"tau": 2.0, "v_threshold": 1.0})
    emit(g, "reshape", ["lif"], name="img", attrs={"shape": [1, 2, 2]})
    emit(g, "conv", ["img"], name="conv", params={"weight": rng.normal(size=(2, 1, 1, 1)).astype(F)})
    emit(g, "mul", ["conv", _const(g, "per_channel", np.array([2.0, 4.0], F).reshape(2, 1, 1))], name="gain")
    emit(g, "if", ["gain"], name="if1")
    emit(g, "linear", ["x"], name="fc2", params={"weight": rng.normal(size=(3, 6)).astype(F)})
    emit(g, "mul", ["fc2", _const(g, "minus", -3.0)], name="neg")
    emit(g, "if", ["neg"], name="if2", attrs={"v_reset": 0.5, "v_threshold": 1.0})
    emit(g, "mul", ["x", "minus"], name="neg_in")
    emit(g, "if", ["neg_in"], name="if3", attrs={"v_reset": 0.5, "v_threshold": 1.0})
    g.outputs = ["if1", "if2", "if3"]
    return g


def remove_identity_case() -> Graph:
    """identity, dropout, a same-shape reshape and an identity transpose go; a real
    transpose and the identity that renames the graph output stay."""
    g = Graph("remove_identity")
    g.add_input(Value("x", (3, 4), axes="TN"))
    emit(g, "identity", ["x"], name="id")
    emit(g, "dropout", ["id"], name="drop")
    emit(g, "reshape", ["drop"], name="same", attrs={"shape": [3, 4]})
    emit(g, "transpose", ["same"], name="keep_order", attrs={"perm": [0, 1]})
    emit(g, "relu", ["keep_order"], name="relu")
    emit(g, "transpose", ["relu"], name="turn", attrs={"perm": [1, 0]})
    emit(g, "lif", ["turn"], name="lif")
    emit(g, "identity", ["x"], name="alias")
    g.outputs = ["lif", "alias"]
    return g


def fold_bias_case() -> Graph:
    """linear + per-feature add -> bias; a sub after a conv -> bias; an add that
    broadcasts along another axis stays."""
    rng = np.random.default_rng(3)
    g = Graph("fold_bias")
    g.add_input(Value("x", (5,), kind=SPIKE, axes="TN"))
    emit(g, "linear", ["x"], name="fc", params={"weight": rng.normal(size=(4, 5)).astype(F),
                                                 "bias": np.array([1.0, 0.0, -1.0, 0.5], F)})
    emit(g, "add", ["fc", _const(g, "c", [0.25, 0.5, 0.75, 1.0])], name="plus")
    emit(g, "lif", ["plus"], name="lif")
    emit(g, "reshape", ["lif"], name="img", attrs={"shape": [1, 2, 2]})
    emit(g, "conv", ["img"], name="conv", params={"weight": rng.normal(size=(2, 1, 1, 1)).astype(F)})
    emit(g, "sub", ["conv", _const(g, "d", np.array([1.0, -2.0], F).reshape(2, 1, 1))], name="minus")
    emit(g, "if", ["minus"], name="if1")
    emit(g, "linear", ["x"], name="fc2", params={"weight": rng.normal(size=(2, 5)).astype(F)})
    emit(g, "add", ["fc2", _const(g, "row", np.ones((3, 1), F))], name="wide")
    g.outputs = ["if1", "wide"]
    return g


CASES = {"fold_bn": (fold_bn_case, "fold-bn"), "fold_scale": (fold_scale_case, "fold-scale"),
         "remove_identity": (remove_identity_case, "remove-identity"), "fold_bias": (fold_bias_case, "fold-bias")}


def _cli(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def _transcript(case: str, tmp_path, capsys) -> str:
    build, passes = CASES[case]
    before, after = tmp_path / f"{case}.json", tmp_path / f"{case}.opt.json"
    before.write_text(to_json(build()))
    shown = _cli(capsys, "show", before)
    report = [line for line in _cli(capsys, "opt", before, "-o", after, "--passes", passes).splitlines()
              if not line.startswith("wrote ")]               # that line names the temporary path
    return (f"// snnc show {case}.json\n{shown}// snnc opt {case}.json --passes {passes}\n"
            + "".join(line + "\n" for line in report) + f"// snnc show {case}.opt.json\n"
            + _cli(capsys, "show", after))


def _split(text: str) -> tuple[list[str], list[str]]:
    return NUMBER.split(text), NUMBER.findall(text)


def assert_same(got: str, golden: str, name: str) -> None:
    """Words equal; integers equal; other numbers within 1e-5 relative (6 printed digits)."""
    words, nums = _split(got)
    gwords, gnums = _split(golden)
    assert words == gwords, f"{name}: the text differs from the golden file\n--- got\n{got}\n--- golden\n{golden}"
    for a, b in zip(nums, gnums):
        if re.fullmatch(r"-?\d+", b):
            assert a == b, f"{name}: {a} where the golden file has {b}"
        else:
            assert abs(float(a) - float(b)) <= 1e-5 * max(1.0, abs(float(b))), f"{name}: {a} vs golden {b}"


def _update(config) -> bool:
    return config.getoption("--update-golden") or os.environ.get("SNNC_UPDATE_GOLDEN", "") not in ("", "0")


@pytest.mark.parametrize("case", list(CASES))
def test_pass_matches_its_golden_file(case, tmp_path, capsys, pytestconfig):
    got = _transcript(case, tmp_path, capsys)
    path = GOLDEN / f"{case}.txt"
    if _update(pytestconfig):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(got)
        return
    assert path.exists(), f"{path} is missing: run SNNC_UPDATE_GOLDEN=1 pytest {__file__} and review it"
    assert_same(got, path.read_text(), path.name)


def _line_after(case: str, node: str) -> str:
    """The line of ``%node`` in the golden file's after-the-pass listing."""
    after = (GOLDEN / f"{case}.txt").read_text().split(f"// snnc show {case}.opt.json")[1]
    return next(ln for ln in after.splitlines() if ln.strip().startswith(f"%{node} ="))


def _bias(line: str) -> list[float]:
    return [float(v) for v in re.search(r"bias: \[([^\]]*)\]", line).group(1).split(",")]


def test_golden_numbers_are_the_formulas():
    """The folded numbers the golden files hold, recomputed from docs/passes.md's formulas
    (fold-bn: b' = (b − μ)γ/√(σ²+ε) + β; fold-scale: θ/s and c·W; fold-bias: b + c)."""
    gamma, beta, mu, var = np.array([0.5, -2.0, 1.5]), np.array([0.25, 0.0, -1.0]), np.array([1.0, -0.5, 0.0]), \
        np.array([0.25, 4.0, 1.0])
    fold = lambda b, c: (b - mu[:c]) * gamma[:c] / np.sqrt(var[:c]) + beta[:c]     # noqa: E731
    np.testing.assert_allclose(_bias(_line_after("fold_bn", "conv")), fold(np.array([0.5, -1.0]), 2), rtol=1e-6)
    np.testing.assert_allclose(_bias(_line_after("fold_bn", "fc")), fold(np.zeros(3), 3), rtol=1e-6)
    assert "lif[v_threshold=2]" in _line_after("fold_scale", "lif")                 # 1 / 0.5
    w = np.random.default_rng(2)
    w.normal(size=(4, 6))
    conv_w = w.normal(size=(2, 1, 1, 1)).reshape(2) * [2.0, 4.0]                   # the case's draws, scaled
    got = re.search(r"weight: \[([^\]]*)\]", _line_after("fold_scale", "conv")).group(1).split(",")
    np.testing.assert_allclose([float(v) for v in got], conv_w, rtol=1e-5)
    np.testing.assert_allclose(_bias(_line_after("fold_bias", "fc")), [1.25, 0.5, -0.25, 1.5], rtol=1e-6)
    np.testing.assert_allclose(_bias(_line_after("fold_bias", "conv")), [-1.0, 2.0], rtol=1e-6)


def test_a_changed_number_or_word_fails_the_comparison():
    golden = "%conv = conv(%x) {bias: [-0.5,1.25]} : analog[2,4,4]\n"
    assert_same("%conv = conv(%x) {bias: [-0.500001,1.25]} : analog[2,4,4]\n", golden, "g")
    for wrong in ("%conv = conv(%x) {bias: [-0.51,1.25]} : analog[2,4,4]\n",
                  "%conv = conv(%x) {bias: [-0.5,1.25]} : analog[2,4,5]\n",
                  "%conv = conv(%x) {bias: [-0.5,1.25]} : spike[2,4,4]\n"):
        with pytest.raises(AssertionError):
            assert_same(wrong, golden, "g")
