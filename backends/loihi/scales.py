"""The scale and bias arithmetic of the Loihi quantiser: numbers in, integers out.

With one scale k per layer (integer units per float unit of the neuron's H; the mapping
is in :mod:`snnc.backends.loihi.quantize`'s docstring):

    W_int ≈ k·c·W  (c = 1/τ with decay_input, else 1)   even, |W_int| <= 254
    θ_int = k·θ    an integer <= 2^17 (k is chosen so)  vth = θ_int − 1
    bias_mant·2^bias_exp ≈ 64·k·c·b                       |mant| <= 4095, exp in 0..7
    dv = round(4096/τ) (0 for IF),  du = 4095

and a neuron's worst-case input per step ``Σ|W_int|·max|x|`` within 16 bits
(:mod:`snnc.backends.loihi.widths`). Graded inputs (a float value a synapse reads) are
encoded as ``bits``-bit integer levels: :func:`levels` and :func:`pick_bits`.
"""

from __future__ import annotations

import numpy as np

from snnc.backends.loihi import widths
from snnc.ir.errors import UnsupportedError
from snnc.ir.graph import Node

WEIGHT_MAX = 254            # 8-bit mixed sign on Lava's scale: even values, |w| <= 254
A_IN_MAX = widths.WIDTHS["a_in"].hi
VTH_MAX = widths.WIDTHS["vth"].hi
BIAS_MAX = widths.WIDTHS["bias_mant"].hi * 2 ** widths.WIDTHS["bias_exp"].hi      # 4095 << 7
ACC_MAX = widths.WIDTHS["a_accum"].hi
#: the largest right shift a Dense's weight_exp gives (its range is −8..7)
SHIFT_MAX = -widths.WIDTHS["weight_exp"].lo


class ThresholdTooFine(UnsupportedError):
    """A threshold below one integer step at the largest scale the weights allow: the
    layer cannot be quantised, and stays on the host (the quantiser records why)."""


def neuron_terms(neuron: Node) -> tuple[float, float, float | None]:
    """``(c, θ, τ)``: the factor on the input (1/τ with decay_input), the threshold above
    the reset level, and τ (None for IF)."""
    lif = neuron.op == "lif"
    tau = float(neuron.attrs["tau"]) if lif else None
    c = 1.0 / tau if lif and neuron.attrs["decay_input"] else 1.0
    theta = float(neuron.attrs["v_threshold"]) - float(neuron.attrs["v_reset"])
    if theta <= 0:
        raise UnsupportedError(f"{neuron.op} {neuron.name!r}: v_threshold - v_reset = {theta:g} <= 0; Loihi fires "
                               "above a non-negative threshold: use v_threshold > v_reset")
    return c, theta, tau


def decay(tau: float | None) -> int:
    """Lava's ``dv`` (12-bit fraction of 4096 lost per step) for a LIF's τ; 0 for IF."""
    return 0 if tau is None else int(min(max(round(4096.0 / tau), 0), 4095))


def choose_scale(w: np.ndarray, theta: float | None, x_max, name: str, bias_max: float = 0.0,
                 a_max: int = A_IN_MAX):
    """``(k, θ_int, W_int, limited_by)``: the largest scale k (integer units per float unit)
    with even weights in [−254, 254], θ_int = k·θ an integer <= 2^17, a worst-case
    synaptic input within 16 bits (``a_max``), and a bias (64·k·b) within 13 bits << 7.
    ``x_max`` bounds |input|: one number, or one per column of ``w`` flattened to ``[O, -1]``."""
    wmax = float(np.abs(w).max(initial=0.0))
    flat = w.reshape(w.shape[0], -1)
    driven = flat * np.asarray(x_max, np.float64)          # x_max: a bound, or one per column
    worst_f = max(np.where(driven > 0, driven, 0).sum(axis=1).max(initial=0.0),
                  np.where(driven < 0, -driven, 0).sum(axis=1).max(initial=0.0))
    limits = {"weights": WEIGHT_MAX / wmax if wmax else np.inf,
              "16-bit input": a_max / worst_f if worst_f else np.inf}
    if theta is not None:
        limits["17-bit threshold"] = (VTH_MAX + 1) / theta
    if bias_max:
        limits["13-bit bias"] = BIAS_MAX / (64.0 * bias_max)
    limit = min(limits, key=limits.get)
    k = limits[limit]
    if not np.isfinite(k):
        k = 1.0 / theta if theta else 1.0
    for _ in range(200):
        if theta is not None:
            theta_int = int(np.floor(k * theta + 1e-9))
            if theta_int < 1:
                raise ThresholdTooFine(
                    f"{name!r}: threshold {theta:g} is below one integer step at the largest scale its {limit} "
                    f"allow (k = {k:.3g}; largest weight {wmax:g}): raise the threshold or scale the weights down")
            k = theta_int / theta
        else:
            theta_int = None
        w_int = (2 * np.rint(k * w / 2)).astype(np.int32)
        if np.abs(w_int).max(initial=0) <= WEIGHT_MAX and widths.worst_input(w_int, x_max) <= a_max:
            return k, theta_int, w_int, limit
        k *= 0.98       # rounding pushed a weight or a sum over the edge: shrink a little
    raise UnsupportedError(f"{name!r}: no scale fits its weights into Loihi's 8-bit synapses")


def bias_parts(bias_v: np.ndarray, name: str):
    """``(mant, exp, max float error)``: mant·2^exp ≈ bias_v with |mant| <= 4095, exp in 0..7."""
    mag = np.abs(bias_v)
    exp = np.zeros(bias_v.shape, np.int32)
    for e in range(1, 8):     # the smallest exponent that brings the mantissa within 13 bits
        exp = np.where(np.rint(mag / 2.0 ** exp) > 4095, e, exp).astype(np.int32)
    mant = np.rint(bias_v / 2.0 ** exp).astype(np.int32)
    if np.abs(mant).max(initial=0) > 4095:
        raise UnsupportedError(f"{name!r}: bias {bias_v[np.argmax(mag)] / 64:g} (in threshold units ×64) exceeds "
                               "Loihi's 13-bit mantissa << 7; lower the bias or the threshold's resolution")
    return mant, exp, float(np.abs(mant * 2.0 ** exp - bias_v).max(initial=0.0))


def rel_error(approx: np.ndarray, exact: np.ndarray) -> float:
    """``‖approx − exact‖ / ‖exact‖`` (0 for an all-zero ``exact``)."""
    norm = float(np.linalg.norm(exact))
    return float(np.linalg.norm(approx - exact) / norm) if norm else 0.0


def levels(value_range: tuple[float, float] | None, bits: int) -> tuple[float, int, tuple[int, int]]:
    """(levels per float unit, max |level|, (lo, hi)) of ``bits``-bit integer levels for a
    value within ``value_range`` (None: assumed within [-1, 1]); unsigned when it is >= 0."""
    lo, hi = value_range if value_range is not None else (-1.0, 1.0)
    top = (1 << bits) - 1 if lo >= 0 else (1 << (bits - 1)) - 1
    span = max(abs(lo), abs(hi)) or 1.0
    return top / span, top, (0, top) if lo >= 0 else (-top, top)


def pick_bits(value_range: tuple[float, float] | None, w: np.ndarray, theta: float | None, name: str) -> int:
    """The input width that balances weight and input rounding: more input bits leave
    fewer weight levels under the 16-bit input bound (Σ|w|·|x| <= 2^15)."""
    best = None
    for bits in range(3, 9):
        per_level, top, _ = levels(value_range, bits)
        try:
            k, _, w_int, _ = choose_scale(w / per_level, theta, top, name)
        except UnsupportedError:
            continue
        err = rel_error(w_int / k, w / per_level) ** 2 + (0.5 / top) ** 2
        if best is None or err < best[0]:
            best = (err, bits)
    return best[1] if best else 8


def reader_scale(w: np.ndarray, x_max, name: str, shift: bool = False):
    """``(k, W_int, limited_by, weight_exp)`` of a synapse with no threshold of its own:
    :func:`choose_scale`'s k, and with ``shift`` (a Dense: the rule ``reader-exponent``)
    a right shift where the 16-bit input bounds k. Lava's Dense sums W_int·s and then
    shifts right by e = −weight_exp (floor), so a = ⌊W_int·s / 2^e⌋ ≈ k·W·s with
    W_int ≈ k·2^e·W: the 16-bit bound holds for the shifted sum (the sum itself within 24
    bits), and the weights get 2^e times finer. e is the smallest (<= 8) that lets the
    weights' own 8 bits bind, so k stays within a factor 2 of the unshifted one; the floor
    costs under one unit of k per step, where the unshifted weights lost up to half a step
    at every input of the fan-in (a reader of payloads to ±255 over 128 inputs: 19.6%)."""
    k, _, w_int, limit = choose_scale(w, None, x_max, name)
    exp = 0
    if shift and limit == "16-bit input":
        for e in range(1, SHIFT_MAX + 1):
            k_e, _, w_int, bound = choose_scale(w, None, x_max, name, a_max=min(A_IN_MAX << e, ACC_MAX))
            k, exp, limit = k_e / 2 ** e, -e, f"{bound} >> {e}"
            if bound != "16-bit input":
                break
    return k, w_int, limit, exp


def mt_scale(w: np.ndarray, thetas: np.ndarray, levels: int, gap: int, x_max: int, name: str,
             shift: bool = False):
    """``(k, W_int, limited_by, weight_exp)`` of a synapse feeding a multi-threshold neuron:
    the largest k that :func:`reader_scale` allows (no threshold term: θ_int = rint(k·θ) is
    rounded per sign and channel), lowered until the largest level θ_int·gap^(levels−1)
    fits the neuron's 24-bit membrane. Raises when a threshold falls below one step."""
    from snnc.ir.ops.loihi_mt import V_MAX

    k, w_int, limit, exp = reader_scale(w, x_max, name, shift)
    top = float(np.max(thetas)) * gap ** (levels - 1)
    if k * top + 0.5 > V_MAX:
        k = (V_MAX - 0.5) / top
        w_int = (2 * np.rint(k * 2.0 ** -exp * w / 2)).astype(np.int32)   # monotone in k: still within bounds
        limit = "24-bit levels"
    if np.rint(k * float(np.min(thetas))) < 1:
        raise ThresholdTooFine(f"{name!r}: threshold {float(np.min(thetas)):g} is below one integer step at the "
                               f"largest scale its {limit} allow (k = {k:.3g})")
    return k, w_int, limit, exp
