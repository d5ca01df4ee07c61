"""snnc.nn conversion modules (ECMT, SIT) against numpy re-statements of the papers' equations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from snnc.nn import CumMean, Delta, ExpectationCompensation, MultiThreshold, SIExp, SpikingMatMul

f32 = np.float32


# ---------------------------------------------------------------- numpy references

def np_cum_mean(x):
    t = np.arange(1, x.shape[0] + 1, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return np.cumsum(x, axis=0) / t


def np_delta(z):
    t = np.arange(1, z.shape[0] + 1, dtype=z.dtype).reshape(-1, *([1] * (z.ndim - 1)))
    out = t * z
    out[1:] -= (t[:-1]) * z[:-1]
    return out


def ref_multithreshold(x, levels, theta_pos, theta_neg=None, gap=2.0):
    """Element by element in float32: V += x; the largest λ = θ·gap^k (k = n−1..0) with
    V ≥ λ − θ/2 fires +λ, else the largest with −V ≥ λ − θ⁻/2 fires −λ; V −= output."""
    x = x.astype(np.float32)
    tp = np.atleast_1d(np.asarray(theta_pos, dtype=np.float32))
    tn = tp if theta_neg is None else np.atleast_1d(np.asarray(theta_neg, dtype=np.float32))
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape[1:]):
        c = idx[1] if len(idx) > 1 else 0
        thp, thn = tp[c % tp.size], tn[c % tn.size]
        v = f32(0.0)
        for t in range(x.shape[0]):
            v = f32(v + x[(t, *idx)])
            s = f32(0.0)
            for k in range(levels - 1, -1, -1):
                lam = f32(thp * f32(gap ** k))
                if v >= f32(lam - f32(thp / f32(2))):
                    s = lam
                    break
            else:
                for k in range(levels - 1, -1, -1):
                    lam = f32(thn * f32(gap ** k))
                    if -v >= f32(lam - f32(thn / f32(2))):
                        s = -lam
                        break
            out[(t, *idx)] = s
            v = f32(v - s)
    return out


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_erf = np.vectorize(math.erf)


def np_gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def np_layernorm(weight, bias, eps):
    def f(x):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * weight + bias
    return f


# ---------------------------------------------------------------- MultiThreshold

def run_mt(x, **kw):
    return MultiThreshold(**kw)(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()


def test_multithreshold_hand_made_train():
    # θ = 1, 3 levels: 4, 2, 1 with bounds 3.5, 1.5, 0.5
    x = np.array([0.25, 0.5, 3.0, -0.25, -5.0, 0.0, 0.0], dtype=np.float32).reshape(7, 1)
    got = run_mt(x, levels=3, theta_pos=1.0)
    np.testing.assert_array_equal(got[:, 0], [0, 1, 2, 1, -4, -2, 1])
    np.testing.assert_array_equal(got, ref_multithreshold(x, 3, 1.0))


def test_multithreshold_saturates_at_top_level():
    x = np.full((3, 1), 100.0, dtype=np.float32)
    np.testing.assert_array_equal(run_mt(x, levels=3, theta_pos=1.0)[:, 0], [4, 4, 4])


def test_multithreshold_negative_side_own_theta():
    # θ⁻ = 0.5, 2 levels: −1, −0.5 with bounds 0.75, 0.25; θ⁺ = 1 never reached
    x = np.array([-0.25, -0.5, -1.0], dtype=np.float32).reshape(3, 1)
    got = run_mt(x, levels=2, theta_pos=1.0, theta_neg=0.5)
    np.testing.assert_array_equal(got[:, 0], [-0.5, -0.5, -1.0])
    np.testing.assert_array_equal(got, ref_multithreshold(x, 2, 1.0, 0.5))


def test_multithreshold_per_channel_theta():
    x = np.full((4, 1, 2, 1), 0.75, dtype=np.float32)
    got = run_mt(x, levels=2, theta_pos=[1.0, 0.25])
    np.testing.assert_array_equal(got[:, 0, 0, 0], [1, 1, 0, 1])
    np.testing.assert_array_equal(got[:, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])


@pytest.mark.parametrize("T,N,levels,gap", [(1, 1, 1, 2.0), (6, 2, 4, 2.0), (9, 3, 8, 2.0), (5, 2, 3, 3.0)])
def test_multithreshold_matches_reference_random(T, N, levels, gap, rng):
    C = 3
    x = rng.normal(0.0, 2.0, size=(T, N, C, 4)).astype(np.float32)
    tp = np.array([0.5, 0.3, 1.25], dtype=np.float32)
    tn = np.array([0.125, 0.7, 1.0], dtype=np.float32)
    got = run_mt(x, levels=levels, theta_pos=tp, theta_neg=tn, gap=gap)
    np.testing.assert_array_equal(got, ref_multithreshold(x, levels, tp, tn, gap))
    # one graded spike per step and element: the value is 0 or one of ±θ_c·gap^k
    for c in range(C):
        allowed = {0.0}
        allowed |= {float(f32(tp[c] * f32(gap ** k))) for k in range(levels)}
        allowed |= {-float(f32(tn[c] * f32(gap ** k))) for k in range(levels)}
        assert set(np.unique(got[:, :, c]).tolist()) <= allowed
    assert (got > 0).any() and (got < 0).any() and (got == 0).any()


def test_multithreshold_scalar_theta_any_rank(rng):
    x = rng.normal(0.0, 1.0, size=(5, 2, 3, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(run_mt(x, levels=4, theta_pos=0.25),
                                  ref_multithreshold(x, 4, 0.25))


def test_multithreshold_rejects_bad_arguments():
    with pytest.raises(ValueError):
        MultiThreshold(levels=0)
    with pytest.raises(ValueError):
        MultiThreshold(theta_pos=-1.0)
    with pytest.raises(ValueError):
        MultiThreshold(theta_pos=[1.0, 2.0])(torch.zeros(2, 1, 3))


# ---------------------------------------------------------------- CumMean, Delta

@pytest.mark.parametrize("T,N", [(1, 1), (4, 2), (7, 3)])
def test_cummean_and_delta_match_numpy(T, N, rng):
    x = rng.normal(size=(T, N, 5))
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(CumMean()(xt).numpy(), np_cum_mean(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Delta()(xt).numpy(), np_delta(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Delta()(CumMean()(xt)).numpy(), x, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- ExpectationCompensation

def _functions(D, rng):
    ln = nn.LayerNorm(D, eps=1e-5).double()
    with torch.no_grad():
        ln.weight.copy_(torch.from_numpy(rng.normal(1.0, 0.2, size=D)))
        ln.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.2, size=D)))
    return {
        "softmax": (nn.Softmax(dim=-1), np_softmax),
        "gelu": (nn.GELU(), np_gelu),
        "layernorm": (ln, np_layernorm(ln.weight.detach().numpy(), ln.bias.detach().numpy(), 1e-5)),
    }


@pytest.mark.parametrize("name", ["softmax", "gelu", "layernorm"])
@pytest.mark.parametrize("T,N", [(1, 2), (4, 1), (8, 3)])
def test_expectation_compensation_matches_numpy(name, T, N, rng):
    D = 6
    f, f_np = _functions(D, rng)[name]
    x = rng.normal(size=(T, N, 3, D))
    got = ExpectationCompensation(f)(torch.from_numpy(x)).detach().numpy()
    want = np_delta(f_np(np_cum_mean(x)))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # the running mean of the output is f of the running mean of the input
    np.testing.assert_allclose(np_cum_mean(got), f_np(np_cum_mean(x)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["softmax", "gelu", "layernorm"])
def test_expectation_compensation_constant_input(name, rng):
    T, N, D = 6, 2, 5
    f, f_np = _functions(D, rng)[name]
    x0 = rng.normal(size=(N, D))
    x = np.broadcast_to(x0, (T, N, D)).copy()
    got = ExpectationCompensation(f)(torch.from_numpy(x)).detach().numpy()
    running = np_cum_mean(got)
    for t in range(T):
        np.testing.assert_allclose(running[t], f_np(x0), rtol=1e-12, atol=1e-12)


def test_expectation_compensation_float32(rng):
    x = rng.normal(size=(5, 2, 7)).astype(np.float32)
    got = ExpectationCompensation(nn.GELU())(torch.from_numpy(x)).numpy()
    want = np_delta(np_gelu(np_cum_mean(x.astype(np.float64))))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- SpikingMatMul

@pytest.mark.parametrize("T,N", [(1, 1), (2, 3), (5, 2), (9, 1)])
def test_spiking_matmul_matches_delta_of_cummean_product(T, N, rng):
    a = rng.normal(size=(T, N, 2, 4, 3))
    b = rng.normal(size=(T, N, 2, 3, 5))
    got = SpikingMatMul()(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    want = np_delta(np_cum_mean(a) @ np_cum_mean(b))
    assert got.shape == (T, N, 2, 4, 5)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # running mean at T is mean(A) @ mean(B)
    np.testing.assert_allclose(got.sum(axis=0) / T, a.mean(axis=0) @ b.mean(axis=0),
                               rtol=1e-10, atol=1e-10)


def test_spiking_matmul_on_multithreshold_spikes(rng):
    T, N = 6, 2
    xa = rng.normal(size=(T, N, 4, 3)).astype(np.float32)
    xb = rng.normal(size=(T, N, 3, 2)).astype(np.float32)
    a = run_mt(xa, levels=4, theta_pos=0.25)
    b = run_mt(xb, levels=4, theta_pos=0.125)
    got = SpikingMatMul()(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = np_delta(np_cum_mean(a64) @ np_cum_mean(b64))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=0) / T, a64.mean(axis=0) @ b64.mean(axis=0),
                               rtol=1e-4, atol=1e-5)


def test_spiking_matmul_rejects_mismatched_time():
    with pytest.raises(ValueError):
        SpikingMatMul()(torch.zeros(2, 1, 3, 3), torch.zeros(3, 1, 3, 3))


# ---------------------------------------------------------------- SI-exp (SIT Eq. 2-4)

def ref_siexp(x, th, h, d):
    """Element by element in float32: v(1) = x; z(t) = [v(t) >= T(t)]; v(t+1) = v(t) − h(t)z(t);
    out = Σ d(t) z(t) (the sum in order t = 1..K)."""
    x = x.astype(np.float32)
    K = len(th)
    z = np.zeros((K, *x.shape), dtype=np.float32)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        v = x[idx]
        acc = f32(0.0)
        for t in range(K):
            if v >= f32(th[t]):
                z[(t, *idx)] = 1.0
                v = f32(v - f32(h[t]))
            acc = f32(acc + f32(d[t]) * z[(t, *idx)])
        out[idx] = acc
    return z, out


def test_siexp_binary_code_tables():
    # T = h = d = 2^-t: SI-exp becomes a K-bit binary coder of x in [0, 1)
    K = 4
    tab = [2.0 ** -(t + 1) for t in range(K)]
    neuron = SIExp(K, tab, tab, tab)
    x = torch.tensor([0.6875, 0.3, 0.0, 0.99])
    np.testing.assert_array_equal(neuron.spike_train(x).numpy().T,
                                  [[1, 0, 1, 1], [0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(neuron(x).numpy(), np.floor(x.numpy() * 16) / 16)


@pytest.mark.parametrize("K", [1, 5, 12])
def test_siexp_matches_reference(K, rng):
    th = rng.uniform(-1.0, 1.0, size=K).astype(np.float32)
    h = rng.uniform(0.0, 0.5, size=K).astype(np.float32)
    d = rng.uniform(0.0, 2.0, size=K).astype(np.float32)
    x = rng.uniform(-1.0, 1.0, size=(3, 2, 7)).astype(np.float32)   # [T, N, D]
    neuron = SIExp(K, th, h, d)
    z_want, out_want = ref_siexp(x, th, h, d)
    xt = torch.from_numpy(x)
    np.testing.assert_array_equal(neuron.spike_train(xt).numpy(), z_want)
    np.testing.assert_allclose(neuron(xt).numpy(), out_want, rtol=1e-6, atol=1e-6)
    assert z_want.any() and not z_want.all()


def test_siexp_rejects_bad_tables():
    with pytest.raises(ValueError):
        SIExp(3, [0.0, 0.0], [0.0] * 3, [0.0] * 3)
    with pytest.raises(ValueError):
        SIExp(0, [], [], [])
