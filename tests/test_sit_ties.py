"""SIT's stepped SI-norm (Fig. 5a, Eq. 6-9) on inputs built to sit exactly on its threshold:
PyTorch, onnxruntime (the exported file) and the snnc simulator (the imported graph) must
give the same spike counts as an exact integer restatement written here.

The tie: v(t) = v(t−1) + w, spike when v ≥ V_th = Σ_row w. With every weight of a row equal
and T = row length, v reaches V_th after exactly T steps in real arithmetic (one spike each,
softmax 1/n: a uniform attention row). In float32 the running total and Σ w are rounded in
different orders by torch, onnxruntime and numpy, so the spike fell on either side; SINorm
now rounds w to multiples of 2^-frac_bits first and works on those integers, exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from onnx_helpers import run_ort

from snnc.backends.sim import simulate
from snnc.nn import sit
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_onnx

FRAC = 2 ** sit.SINorm.FRAC_BITS


def exact_counts(w: np.ndarray, T: int) -> np.ndarray:
    """Eq. 6-9 over the last axis with Python integers: w rounded to a multiple of 2^-10
    (half to even, as torch.round and ONNX Round), then T steps of v += w, fire at v >= V_th, v −= V_th."""
    out = np.zeros(w.shape, np.float32)
    for idx in np.ndindex(w.shape[:-1]):
        q = [round(Fraction(float(a)) * FRAC) for a in w[idx]]      # half to even
        v_th = sum(q)
        if v_th <= 0:
            continue
        for j, wj in enumerate(q):
            v = count = 0
            for _ in range(T):
                v += wj
                if v >= v_th:
                    v, count = v - v_th, count + 1
            out[idx + (j,)] = count
    return out


def plain_float32_counts(w: np.ndarray, T: int) -> np.ndarray:
    """The same steps in plain float32 with numpy's Σ (what SINorm did before)."""
    v_th = w.sum(-1, keepdims=True, dtype=np.float32)
    v = np.zeros_like(w)
    count = np.zeros_like(w)
    for _ in range(T):
        v = (v + w).astype(np.float32)
        z = v >= v_th
        v = np.where(z, v - v_th, v).astype(np.float32)
        count += z
    return count


def three_ways(model: torch.nn.Module, x: np.ndarray):
    """(torch, onnxruntime on the exported file, snnc simulator on the imported graph)."""
    with torch.no_grad():
        got_torch = model(torch.from_numpy(x)).numpy()
    proto = to_onnx(model, torch.zeros(x.shape, dtype=torch.float32))
    got_ort = run_ort(proto, {proto.graph.input[0].name: x})[proto.graph.output[0].name]
    graph = import_onnx(proto)
    got_sim = np.asarray(simulate(graph, {graph.inputs[0]: x}).outputs[graph.outputs[0]])
    return got_torch, got_ort, got_sim.reshape(x.shape)


@pytest.mark.parametrize("n", [12, 33])
def test_equal_weights_sit_on_the_threshold(n):
    rng = np.random.default_rng(n)
    # [T=1, N=48, n]: each row one float32 weight repeated, T = n: v(n) = V_th exactly
    w = np.repeat(rng.uniform(0.3, 2.7, (1, 48, 1)).astype(np.float32), n, axis=-1)
    want = exact_counts(w, n)
    np.testing.assert_array_equal(want, 1.0)           # each element one spike: 1/n
    # the tie is real: plain float32 rounding misses it on some rows
    assert (plain_float32_counts(w, n) != want).any()
    for got in three_ways(sit.SINorm(timesteps=n).eval(), w):
        np.testing.assert_array_equal(got, want)


def test_rational_ties_give_the_integer_counts():
    """Rows a·k with a on the 2^-10 grid and T = Σk: w_j/V_th = k_j/T, so real arithmetic
    gives exactly k_j spikes (every element on a tie at its last spike)."""
    rng = np.random.default_rng(7)
    k = rng.integers(1, 4, size=(2, 16, 5))
    k[..., 0] = 10 - k[..., 1:].sum(-1) % 10 + 10     # every row sums to a multiple of 10
    T = 20
    k[..., 0] -= k.sum(-1) - T                           # now Σk = T on every row
    assert (k >= 1).all() and (k.sum(-1) == T).all()
    a = rng.integers(300, 2800, size=(2, 16, 1)) / FRAC
    w = (a * k).astype(np.float32)
    np.testing.assert_array_equal(exact_counts(w, T), k)
    for got in three_ways(sit.SINorm(timesteps=T).eval(), w):
        np.testing.assert_array_equal(got, k)


def test_spiking_softmax_of_a_uniform_row():
    """Equal scores (a padded or uninformative attention row): every SI-exp output is the
    same float, so the stepped Spiking-Softmax is exactly floor(T/n)/T, in all three."""
    T, n = 12, 6
    x = np.broadcast_to(np.linspace(-1, 1, 9, dtype=np.float32)[None, :, None], (1, 9, n)).copy()
    want = np.full(x.shape, np.floor(T / n) / T, np.float32)
    for got in three_ways(sit.SpikingSoftmax(K=12, timesteps=T).eval(), x):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_off_grid_weights_match_the_integer_statement():
    """Arbitrary float32 weights, some rows forced onto ties: every engine equals the
    integer restatement (the quantisation to 2^-10 is the documented semantics)."""
    rng = np.random.default_rng(11)
    w = rng.uniform(0.3, 2.7, (1, 64, 8)).astype(np.float32)
    w[0, :16] = w[0, :16, :1]                             # 16 uniform rows: ties at T = 8
    want = exact_counts(w, 8)
    np.testing.assert_array_equal(want[0, :16], 1.0)
    for got in three_ways(sit.SINorm(timesteps=8).eval(), w):
        np.testing.assert_array_equal(got, want)
