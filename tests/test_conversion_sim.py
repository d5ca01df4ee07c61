"""Simulator counts of ECMT's ops: a spiking matmul's ACs (the nnz patterns of Eq. 12),
MACs (Eq. 14) and Eq. 13's bound, by hand and by brute force; a synaptic layer fed by
graded spikes costs one AC per nonzero input per fan-out."""

from __future__ import annotations

import numpy as np
import torch

from snnc.backends.sim import simulate
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.kinds import graded_spikes
from snnc.nn import MultiThreshold

GRADED = graded_spikes(2, 2.0, [0.5], [0.5])      # {0, ±0.5, ±1}


def matmul_graph(a_shape, b_shape):
    g = Graph("smm")
    g.add_input(Value("a", a_shape, kind=GRADED, axes="TN"))
    g.add_input(Value("b", b_shape, kind=GRADED, axes="TN"))
    emit(g, "spiking_matmul", ["a", "b"], name="smm")
    g.outputs = ["smm"]
    return g


def test_spiking_matmul_counts_by_hand():
    # T = 2, one sample, 2x2 @ 2x2
    a = np.zeros((2, 1, 2, 2), np.float32)
    b = np.zeros((2, 1, 2, 2), np.float32)
    a[0, 0, 0, 0] = 1.0          # A(1): (i=0, k=0)
    a[1, 0, 0, 1] = 0.5          # A(2): (i=0, k=1)
    b[0, 0, 1, 0] = 1.0          # B(1): (k=1, j=0)
    b[1, 0, 0, 0] = -1.0         # B(2): (k=0, j=0)
    result = simulate(matmul_graph((2, 2), (2, 2)), {"a": a, "b": b})
    # t=1: A(1)B(1) pairs need the same k: A has k=0, B has k=1 -> 0; S_A(0) = S_B(0) = 0.
    # t=2: A(2)B(2): k=1 vs k=0 -> 0; A(2) (k=1) x S_B(1) (k=1, j=0) -> 1;
    #      S_A(1) (i=0, k=0) x B(2) (k=0, j=0) -> 1.  ACs = 0 + 2 = 2.
    # Eq. 14: η1 = η2 = 1/4 at both steps, n·m = 4: (1/4 + 1/4 + 1/4)·4 = 3 per step -> 6.
    # Eq. 13: (1/16 + 1/4 + 1/4)·n·p·m (= 8) + 3·n·m (= 12) = 16.5 per step -> 33.
    s = result.layers["smm"]
    assert s.role == "spiking_matmul"
    assert s.acs == 2
    assert s.macs == 6
    assert float(s.bound.sum()) == 33
    assert s.acs <= float(s.bound.sum())
    # and the output: O(1) = A(1)B(1) = 0; O(2) = S_K(2)/2 − S_K(1) = [[-0.25, 0], [0, 0]]
    # (S_A(2) = [[1, .5], [0, 0]], S_B(2) = [[-1, 0], [1, 0]], S_K(2)[0, 0] = −1 + .5)
    out = result.outputs["smm"]
    np.testing.assert_array_equal(out[0, 0], np.zeros((2, 2)))
    np.testing.assert_array_equal(out[1, 0], np.array([[-0.25, 0], [0, 0]], np.float32))


def brute_acs(a, b):
    """Loop over steps, samples, outputs and k: the three gated terms of Eq. 12."""
    t_, n_, rows, inner = a.shape
    cols = b.shape[-1]
    sa = np.zeros(a.shape[1:], np.float64)
    sb = np.zeros(b.shape[1:], np.float64)
    total = 0
    for t in range(t_):
        for s in range(n_):
            for i in range(rows):
                for j in range(cols):
                    for k in range(inner):
                        total += bool(a[t, s, i, k]) and bool(b[t, s, k, j])
                        total += bool(a[t, s, i, k]) and bool(sb[s, k, j])
                        total += bool(sa[s, i, k]) and bool(b[t, s, k, j])
        sa += a[t]
        sb += b[t]
    return total


def test_spiking_matmul_counts_brute_force():
    rng = np.random.default_rng(0)
    levels = np.array([-1, -0.5, 0.5, 1], np.float32)
    shape_a, shape_b = (5, 3, 4, 6), (5, 3, 6, 3)
    a = np.where(rng.random(shape_a) < 0.3, rng.choice(levels, shape_a), 0).astype(np.float32)
    b = np.where(rng.random(shape_b) < 0.2, rng.choice(levels, shape_b), 0).astype(np.float32)
    result = simulate(matmul_graph((4, 6), (6, 3)), {"a": a, "b": b})
    s = result.layers["smm"]
    assert s.acs * 3 == brute_acs(a, b)        # per sample, 3 samples
    eta1 = (a != 0).reshape(5, 3, -1).mean(axis=2)
    eta2 = (b != 0).reshape(5, 3, -1).mean(axis=2)
    want_macs = ((np.minimum(eta1, eta2) + eta1 + eta2) * 4 * 3).sum() / 3
    np.testing.assert_allclose(s.macs, want_macs, rtol=1e-12)
    # the output equals Delta(CumMean(A) @ CumMean(B)), written here in numpy
    t = np.arange(1, 6, dtype=np.float64).reshape(-1, 1, 1, 1)
    z = (np.cumsum(a, 0) / t) @ (np.cumsum(b, 0) / t)
    want = t * z - np.concatenate([np.zeros_like(z[:1]), (t * z)[:-1]])
    np.testing.assert_allclose(result.outputs["smm"], want, rtol=1e-5, atol=1e-5)


def test_linear_fed_by_graded_spikes_counts_acs_per_fanout():
    mt = MultiThreshold(3, theta_pos=0.25, theta_neg=0.5)
    g = Graph("graded")
    g.add_input(Value("x", (4,), axes="TN"))
    emit(g, "multi_threshold", ["x"], name="mt",
         attrs={"levels": 3, "gap": 2.0, "theta_pos": [0.25], "theta_neg": [0.5]})
    w = np.random.default_rng(1).standard_normal((7, 4)).astype(np.float32)
    emit(g, "linear", ["mt"], name="fc", params={"weight": w})
    g.outputs = ["fc"]
    x = np.random.default_rng(2).standard_normal((6, 2, 4)).astype(np.float32)
    result = simulate(g, {"x": x})
    with torch.no_grad():
        spikes = mt(torch.from_numpy(x)).numpy()
    assert len(np.unique(np.abs(spikes[spikes != 0]))) > 1            # really graded
    fc = result.layers["fc"]
    assert fc.input_class == "spike" and fc.macs == 0
    assert fc.acs == np.count_nonzero(spikes) * 7 / 2                # per sample
    np.testing.assert_allclose(result.outputs["fc"], spikes @ w.T, rtol=1e-5, atol=1e-5)
