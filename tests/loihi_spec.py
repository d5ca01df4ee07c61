"""The Loihi quantiser's rules and Lava's integer numerics, written out again in the tests
so the quantiser and the loihi ops are checked against something they did not compute.

From DESIGN.md / lava-nc 0.10 (``lava/proc/lif/models.py``, ``lava/proc/dense``,
``lava/proc/conv``): 8-bit mixed-sign weights (even, |w| <= 254), a 16-bit synaptic
input per step, a 17-bit unsigned ``vth``, a 13-bit bias mantissa with a 3-bit exponent,
12-bit decays; the charge ``H = V + c·W·s`` (c = 1/τ with decay_input, else 1) fires at
``H >= θ`` and maps to Lava's ``v > 64·vth`` with ``vth = k·θ − 1`` at scale k.
"""

from __future__ import annotations

import numpy as np
import torch

WEIGHT_MAX = 254                    # even values of an 8-bit mixed-sign weight
A_IN_MAX = 2**15 - 1                # LIF a_in: int16
VTH_MAX = 2**17 - 1                 # vth: 17 bits unsigned
MANT_MAX, EXP_MAX = 4095, 7         # bias_mant: 13 bits signed; bias_exp: 3 bits


def decay(x: int, d: int) -> int:
    """Lava: sign(x·d) · (|x·d| >> 12), in Python integers."""
    p = x * d
    return (1 if p > 0 else -1 if p < 0 else 0) * (abs(p) >> 12)


def lava_lif_python(a, du, dv, vth, bias, start=0):
    """PyLifModelBitAcc.run_spk, one neuron at a time (lava/proc/lif/models.py); with
    ``start``, PyLifResetModelBitAcc's reset of u and v as that step begins."""
    out = np.zeros(a.shape, np.float32)
    for idx in np.ndindex(a.shape[1:]):
        u = v = 0
        for t in range(a.shape[0]):
            if t == start:
                u = v = 0
            cur = decay(u, 4096 - (du + 1)) + (int(a[(t, *idx)]) << 6)
            wrapped = cur - 2 ** 24 if cur > 2 ** 23 else cur
            u = cur + 2 ** 24 if wrapped <= -2 ** 23 else wrapped
            v = min(max(decay(v, 4096 - dv) + u + int(bias[idx]), -2 ** 23 + 1), 2 ** 23 - 1)
            if v > vth << 6:
                out[(t, *idx)] = 1
                v = 0
    return out


def conv_one_step_late(x: np.ndarray, w: np.ndarray, attrs: dict) -> np.ndarray:
    """Lava's Conv on ``[T, N, C, *S]`` integers: a cross-correlation (torch, float64:
    exact for these magnitudes) delivered one step late."""
    spatial = w.ndim - 2
    t, n = x.shape[:2]
    conv = torch.nn.functional.conv2d if spatial == 2 else torch.nn.functional.conv1d
    pads = attrs.get("pads") or [0] * 2 * spatial
    assert list(pads[:spatial]) == list(pads[spatial:])
    y = conv(torch.from_numpy(x.reshape(t * n, *x.shape[2:]).astype(np.float64)), torch.from_numpy(w).double(),
             stride=attrs.get("strides") or 1, padding=list(pads[:spatial]),
             dilation=attrs.get("dilations") or 1, groups=attrs.get("group", 1)).numpy()
    y = y.reshape(t, n, *y.shape[1:])
    assert np.abs(y).max(initial=0) < 2**23, "the 24-bit wrap is not part of this check"
    out = np.zeros_like(y)
    out[1:] = y[:-1]
    return out.astype(np.int64)


def neuron_terms(neuron) -> tuple[float, float, float | None]:
    """(c, θ above the reset, τ or None) of a float lif/if node, read off its attributes."""
    a = neuron.attrs
    lif = neuron.op == "lif"
    tau = float(a["tau"]) if lif else None
    c = 1.0 / tau if lif and a.get("decay_input", 1) else 1.0
    return c, float(a.get("v_threshold", 1.0)) - float(a.get("v_reset", 0.0)), tau


def check_fused_layer(g, q, syn_name: str, neuron_name: str, per_level: float = 1.0, x_max: int = 1) -> None:
    """A float synapse + neuron against its quantised pair, rule by rule (module doc):
    integer weights are k·c·W rounded to even values at the scale k that the threshold
    gives, the largest that fits; dv, du and the bias follow from τ, k and b."""
    syn, neuron = g.node(syn_name), g.node(neuron_name)
    qsyn, qlif = q.node(syn_name), q.node(neuron_name)
    c, theta, tau = neuron_terms(neuron)
    w = c * syn.params["weight"].astype(np.float64) / per_level      # per input level
    theta_int = qlif.attrs["vth"] + 1
    k = theta_int / theta
    w_int = qsyn.params["weight"]
    # the rounding: even integers nearest k·c·W
    np.testing.assert_array_equal(w_int, 2 * np.rint(k * w / 2), err_msg=syn_name)
    flat = w_int.reshape(w_int.shape[0], -1).astype(np.int64)
    worst = max(np.where(flat > 0, flat, 0).sum(1).max(), (-np.where(flat < 0, flat, 0)).sum(1).max()) * x_max
    assert np.abs(w_int).max() <= WEIGHT_MAX and worst <= A_IN_MAX and 1 <= theta_int <= VTH_MAX + 1
    # the scale is the largest (within the few percent the threshold's integer and the
    # rounding cost) that these bounds allow
    wf = w.reshape(w.shape[0], -1)
    worst_f = max(np.where(wf > 0, wf, 0).sum(1).max(), (-np.where(wf < 0, wf, 0)).sum(1).max()) * x_max
    bias = syn.params.get("bias")
    bias_v = None if bias is None else 64.0 * k * c * bias.astype(np.float64)
    limits = [WEIGHT_MAX / np.abs(w).max(), A_IN_MAX / worst_f, (VTH_MAX + 1) / theta]
    if bias is not None and np.abs(bias).max() > 0:
        limits.append(MANT_MAX * 2**EXP_MAX / (64.0 * c * np.abs(bias.astype(np.float64)).max()))
    assert 0.9 * min(limits) <= k <= min(limits) * (1 + 1e-9), (syn_name, k, limits)
    assert np.linalg.norm(w_int / k - w) / np.linalg.norm(w) < 0.05, syn_name
    # the neuron: Lava's decays, and the bias as mant·2^exp with the smallest exponent
    assert qlif.attrs.get("du", 4095) == 4095
    assert qlif.attrs.get("dv", 0) == (0 if tau is None else round(4096 / tau))
    if bias_v is None:
        assert "bias_mant" not in qlif.params
        return
    mant = qlif.params["bias_mant"].reshape(-1).astype(np.int64)
    exp = qlif.params["bias_exp"].reshape(-1).astype(np.int64)
    assert np.abs(mant).max() <= MANT_MAX and exp.min() >= 0 and exp.max() <= EXP_MAX
    assert np.all(np.abs(mant * 2.0 ** exp - bias_v) <= 2.0 ** exp / 2 + 1e-9), neuron_name
    smaller = np.maximum(exp - 1, 0)
    assert np.all((exp == 0) | (np.rint(np.abs(bias_v) / 2.0 ** smaller) > MANT_MAX)), neuron_name
