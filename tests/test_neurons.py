"""snnc.nn neurons against a plain-Python re-statement of SpikingJelly's equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.nn import IF, LIF, MeanDecoder, RepeatEncoder, SeqToBatch


def reference_neuron(x, *, tau=None, v_th=1.0, v_reset=0.0, decay_input=True):
    """Element by element in float32, as SpikingJelly's LIFNode/IFNode multi-step charge,
    fire (H >= V_th) and reset (hard to v_reset, soft subtracting V_th when v_reset None)."""
    f = np.float32
    x = x.astype(np.float32)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape[1:]):
        v = f(0.0) if v_reset is None else f(v_reset)
        for t in range(x.shape[0]):
            xt = x[(t, *idx)]
            if tau is None:
                h = f(v + xt)
            elif decay_input:
                h = f(v + f(f(xt - f(v - f(v_reset or 0.0))) / f(tau)))
            elif not v_reset:
                h = f(f(v * f(f(1.0) - f(1.0) / f(tau))) + xt)
            else:
                h = f(f(v - f(f(v - f(v_reset)) / f(tau))) + xt)
            s = h >= f(v_th)
            out[(t, *idx)] = s
            v = (f(h - f(v_th)) if v_reset is None else f(v_reset)) if s else h
    return out


CASES = [
    dict(tau=2.0, v_th=1.0, v_reset=0.0, decay_input=True),
    dict(tau=2.0, v_th=1.0, v_reset=None, decay_input=True),
    dict(tau=3.0, v_th=0.5, v_reset=0.0, decay_input=False),
    dict(tau=1.7, v_th=0.7, v_reset=None, decay_input=False),
    dict(tau=4.0, v_th=1.0, v_reset=-0.3, decay_input=True),
    dict(tau=4.0, v_th=1.0, v_reset=0.25, decay_input=False),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_lif_matches_spikingjelly_equations(case, rng):
    x = rng.normal(1.0, 1.0, size=(8, 3, 5)).astype(np.float32)
    lif = LIF(tau=case["tau"], v_threshold=case["v_th"], v_reset=case["v_reset"],
              decay_input=case["decay_input"])
    got = lif(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, reference_neuron(x, **case))
    assert got.any() and not got.all()


@pytest.mark.parametrize("v_reset", [0.0, None])
def test_if_integrates_without_leak(v_reset, rng):
    x = rng.normal(0.3, 0.5, size=(8, 2, 4)).astype(np.float32)
    got = IF(v_threshold=1.0, v_reset=v_reset)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, reference_neuron(x, tau=None, v_th=1.0, v_reset=v_reset))


def test_fires_at_threshold_tie():
    # H = 0 + (2 - 0) / 2 = 1.0 exactly: SpikingJelly fires at H >= V_th
    assert LIF(tau=2.0)(torch.full((1, 1, 1), 2.0)).item() == 1.0
    assert IF(v_threshold=1.0)(torch.full((1, 1), 1.0)).item() == 1.0


def test_hard_reset_state_starts_at_v_reset():
    # V[0] = v_reset = 0.5, X = 0.5 (IF): H = 1.0 fires on the first step
    assert IF(v_threshold=1.0, v_reset=0.5)(torch.full((1, 1), 0.5)).item() == 1.0


@pytest.mark.parametrize("bad", [dict(tau=1.0), dict(tau=0.5), dict(tau=float("nan")),
                                 dict(v_threshold=float("inf"))])
def test_bad_parameters_are_rejected(bad):
    with pytest.raises(ValueError, match="LIF"):
        LIF(**bad)


def test_surrogate_gradient_trains():
    torch.manual_seed(0)
    fc, lif = torch.nn.Linear(4, 3), LIF(tau=2.0)
    x = torch.rand(5, 16, 4)
    target = torch.tensor([1.0, 0.0, 1.0])
    opt = torch.optim.Adam(fc.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        rate = lif(fc(x)).mean((0, 1))
        loss = ((rate - target) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        if not losses:
            assert fc.weight.grad.abs().sum() > 0      # the surrogate passes a gradient
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]


def test_detach_reset_changes_gradient_not_value():
    torch.manual_seed(0)
    x = torch.rand(6, 2, 3) * 2
    outs = {}
    for detach in (False, True):
        xi = x.clone().requires_grad_(True)
        y = LIF(tau=2.0, detach_reset=detach)(xi)
        y.sum().backward()
        outs[detach] = (y.detach(), xi.grad)
    assert torch.equal(outs[False][0], outs[True][0])
    assert not torch.equal(outs[False][1], outs[True][1])


def test_encoder_decoder_and_seq_to_batch():
    x = torch.rand(3, 2, 5)
    rep = RepeatEncoder(4)(x)
    assert rep.shape == (4, 3, 2, 5) and all(torch.equal(rep[t], x) for t in range(4))
    assert torch.equal(MeanDecoder()(rep), x)
    lin = torch.nn.Linear(5, 7)
    y = SeqToBatch(lin)(rep)
    assert y.shape == (4, 3, 2, 7) and torch.allclose(y[1], lin(x))
    with pytest.raises(ValueError):
        RepeatEncoder(0)
