"""Other frameworks' neurons as multi-step snnc modules (``[T, N, ...]`` in and out).

The translation targets of :mod:`snnc.onnx.adapters` where no LIF/IF expresses a
neuron exactly: SpikingJelly 2.0's LIF charge (:class:`SpikingJellyLIF`), snnTorch's
``Leaky`` (:class:`Leaky`) and ``Synaptic`` (:class:`Synaptic`), Norse's ``LIFBoxCell``
(:class:`LIFBox`) and ``LIFCell`` (:class:`LIFCurrent`). Each exports as one ``snnc``
node (:mod:`snnc.onnx.dialect_frameworks` has the equations) and its forward repeats
the framework's float32 arithmetic op for op, so spikes equal the framework's, applied
step by step.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from snnc.nn.neurons import SpikingNeuron
from snnc.onnx.dialect_frameworks import RESET_MECHANISMS


class Leaky(nn.Module):
    """snnTorch ``Leaky``: ``U = β·U + X − R·θ``, fires on ``U > θ``, resets one step late.

    Args:
        beta: the decay, in [0, 1] (snnTorch clamps it; pass the clamped value).
        threshold: θ.
        reset_mechanism: "subtract", "zero" or "none".
        reset_delay: snnTorch's default True: the reset applies at the next step.
    """

    def __init__(self, beta: float, threshold: float = 1.0, reset_mechanism: str = "subtract",
                 reset_delay: bool = True):
        super().__init__()
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"Leaky: beta must be in [0, 1], got {beta}")
        if reset_mechanism not in RESET_MECHANISMS:
            raise ValueError(f"Leaky: reset_mechanism must be one of {sorted(RESET_MECHANISMS)}")
        self.beta = float(np.float32(beta))
        self.threshold = float(np.float32(threshold))
        self.reset_mechanism = reset_mechanism
        self.reset_delay = bool(reset_delay)

    def onnx_attributes(self) -> dict[str, float | int]:
        return {"beta": self.beta, "threshold": self.threshold,
                "reset_mechanism": RESET_MECHANISMS[self.reset_mechanism], "reset_delay": int(self.reset_delay)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return torch.onnx.ops.symbolic("snnc::Leaky", (x,), self.onnx_attributes(),
                                           dtype=x.dtype, shape=x.shape, version=1)
        beta = torch.tensor(self.beta, dtype=x.dtype)
        thr = torch.tensor(self.threshold, dtype=x.dtype)
        u = torch.zeros_like(x[0])
        spikes = []
        for t in range(x.shape[0]):
            r = (u - thr > 0).to(x.dtype)
            if self.reset_mechanism == "subtract":
                u1 = beta * u + x[t] - r * thr
            elif self.reset_mechanism == "zero":
                u1 = beta * ((1 - r) * u) + x[t]
            else:
                u1 = beta * u + x[t]
            s = (u1 - thr > 0).to(x.dtype)
            u = u1 if self.reset_delay else self._reset_now(u1, s - r, thr)
            spikes.append(s)
        return torch.stack(spikes)

    def _reset_now(self, u1: torch.Tensor, d: torch.Tensor, thr: torch.Tensor) -> torch.Tensor:
        """``reset_delay=False``: the reset of this step's spikes now, less the one already
        applied for last step's (``d = S − R``)."""
        if self.reset_mechanism == "subtract":
            return u1 - d * thr
        if self.reset_mechanism == "zero":
            return u1 - d * u1
        return u1

    def extra_repr(self) -> str:
        return (f"beta={self.beta}, threshold={self.threshold}, reset_mechanism={self.reset_mechanism}, "
                f"reset_delay={self.reset_delay}")


class Synaptic(Leaky):
    """snnTorch ``Synaptic``: ``I = α·I + X``, ``U = β·U + I − R·θ`` (resets as
    :class:`Leaky`, except that "zero" zeroes U after the update); exports as one
    ``snnc::Synaptic`` node."""

    def __init__(self, alpha: float, beta: float, threshold: float = 1.0, reset_mechanism: str = "subtract",
                 reset_delay: bool = True):
        super().__init__(beta, threshold, reset_mechanism, reset_delay)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"Synaptic: alpha must be in [0, 1], got {alpha}")
        self.alpha = float(np.float32(alpha))

    def onnx_attributes(self) -> dict[str, float | int]:
        return {"alpha": self.alpha, **super().onnx_attributes()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return torch.onnx.ops.symbolic("snnc::Synaptic", (x,), self.onnx_attributes(),
                                           dtype=x.dtype, shape=x.shape, version=1)
        alpha, beta, thr = (torch.tensor(v, dtype=x.dtype) for v in (self.alpha, self.beta, self.threshold))
        syn, u = torch.zeros_like(x[0]), torch.zeros_like(x[0])
        spikes = []
        for t in range(x.shape[0]):
            r = (u - thr > 0).to(x.dtype)
            syn = alpha * syn + x[t]
            u1 = beta * u + syn
            if self.reset_mechanism == "subtract":
                u1 = u1 - r * thr
            elif self.reset_mechanism == "zero":
                u1 = u1 - u1 * r
            s = (u1 - thr > 0).to(x.dtype)
            u = u1 if self.reset_delay else self._reset_now(u1, s - r, thr)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, {super().extra_repr()}"


class LIFBox(nn.Module):
    """Norse's ``LIFBoxCell`` over ``[T, N, ...]``: ``V += k·((X + v_leak) − V)``, fires
    on ``V > v_th``, resets to ``v_reset`` (or subtracts ``v_th``); exports as one
    ``snnc::LIFBox`` node. ``dt_tau_inv`` is k = dt·(1/τ_mem) as torch rounds it."""

    def __init__(self, dt_tau_inv: float, v_leak: float = 0.0, v_th: float = 1.0, v_reset: float = 0.0,
                 reset_subtract: bool = False):
        super().__init__()
        f = lambda v: float(np.float32(v))  # noqa: E731
        self.dt_tau_inv, self.v_leak, self.v_th, self.v_reset = f(dt_tau_inv), f(v_leak), f(v_th), f(v_reset)
        self.reset_subtract = bool(reset_subtract)

    def onnx_attributes(self) -> dict[str, float | int]:
        return {"dt_tau_inv": self.dt_tau_inv, "v_leak": self.v_leak, "v_th": self.v_th,
                "v_reset": self.v_reset, "reset_subtract": int(self.reset_subtract)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return torch.onnx.ops.symbolic("snnc::LIFBox", (x,), self.onnx_attributes(),
                                           dtype=x.dtype, shape=x.shape, version=1)
        k, v_leak, v_th, v_reset = (torch.tensor(v, dtype=x.dtype) for v in
                                    (self.dt_tau_inv, self.v_leak, self.v_th, self.v_reset))
        v = torch.full_like(x[0], self.v_leak)
        spikes = []
        for t in range(x.shape[0]):
            vd = v + k * ((x[t] + v_leak) - v)
            z = (vd - v_th > 0).to(x.dtype)
            v = (1 - z) * vd + z * ((vd - v_th) if self.reset_subtract else v_reset)
            spikes.append(z)
        return torch.stack(spikes)


class LIFCurrent(nn.Module):
    """Norse's ``LIFCell`` (current-based LIF) over ``[T, N, ...]``; exports as one
    ``snnc::LIFCurrent`` node. ``k_mem = dt·τ_mem⁻¹`` and ``k_syn = (−dt)·τ_syn⁻¹`` as
    torch rounds them."""

    def __init__(self, k_mem: float, k_syn: float, v_leak: float = 0.0, v_th: float = 1.0, v_reset: float = 0.0):
        super().__init__()
        f = lambda v: float(np.float32(v))  # noqa: E731
        self.k_mem, self.k_syn, self.v_leak, self.v_th, self.v_reset = map(f, (k_mem, k_syn, v_leak, v_th, v_reset))

    def onnx_attributes(self) -> dict[str, float]:
        return {"k_mem": self.k_mem, "k_syn": self.k_syn, "v_leak": self.v_leak, "v_th": self.v_th,
                "v_reset": self.v_reset}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return torch.onnx.ops.symbolic("snnc::LIFCurrent", (x,), self.onnx_attributes(),
                                           dtype=x.dtype, shape=x.shape, version=1)
        k_mem, k_syn, v_leak, v_th, v_reset = (torch.tensor(v, dtype=x.dtype) for v in self.onnx_attributes().values())
        v, i = torch.full_like(x[0], self.v_leak), torch.zeros_like(x[0])
        spikes = []
        for t in range(x.shape[0]):
            i1 = i + x[t]
            vd = v + k_mem * ((v_leak - v) + i1)
            i = i1 + k_syn * i1
            z = (vd - v_th > 0).to(x.dtype)
            v = (1 - z) * vd + z * v_reset
            spikes.append(z)
        return torch.stack(spikes)


class SpikingJellyLIF(SpikingNeuron):
    """SpikingJelly 2.0's LIF charge where :class:`snnc.nn.LIF` would round differently:
    ``LIFNode`` (``divide=True``, factor tau) and ``ParametricLIFNode`` (``divide=False``,
    factor sigmoid(w)); exports as one ``snnc::SpikingJellyLIF`` node. Fires and resets as
    :class:`snnc.nn.LIF`."""

    onnx_op = "SpikingJellyLIF"

    def __init__(self, factor: float, divide: bool, decay_input: bool = True, v_threshold: float = 1.0,
                 v_reset: float | None = 0.0):
        super().__init__(v_threshold, v_reset)
        if not (np.isfinite(factor) and factor > 0):
            raise ValueError(f"SpikingJellyLIF: factor must be finite and > 0, got {factor}")
        self.factor = float(np.float32(factor))
        self.divide, self.decay_input = bool(divide), bool(decay_input)

    def charge(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v_r = 0.0 if self.v_reset is None else self.v_reset

        def scale(y):
            return y / self.factor if self.divide else y * self.factor

        if self.decay_input:
            return v + scale(x - (v - v_r))
        return v - scale(v - v_r) + x

    def onnx_attributes(self) -> dict[str, float | int]:
        return {"factor": self.factor, "divide": int(self.divide), "decay_input": int(self.decay_input),
                "v_threshold": self.v_threshold, "v_reset": 0.0 if self.v_reset is None else self.v_reset,
                "soft_reset": int(self.soft_reset)}


class SinabsLIF(nn.Module):
    """Sinabs' ``IAF``/``LIF`` (and ``*Squeeze``) over ``[T, N, ...]``; exports as one
    ``snnc::SinabsLIF`` node (equations in :mod:`snnc.onnx.dialect_frameworks`). With
    ``multi_spike`` the output is a spike *count* per step, ⌊V/θ⌋ (capped at
    ``max_spikes`` when > 0)."""

    def __init__(self, alpha_mem: float = 1.0, norm_input: bool = False, threshold: float = 1.0,
                 multi_spike: bool = True, max_spikes: int = 0, reset_to_value: bool = False,
                 reset_amount: float = 1.0, min_v_mem: float | None = None):
        super().__init__()
        f = lambda v: float(np.float32(v))  # noqa: E731
        self.alpha_mem, self.threshold, self.reset_amount = f(alpha_mem), f(threshold), f(reset_amount)
        self.norm_input, self.multi_spike = bool(norm_input), bool(multi_spike)
        self.reset_to_value = bool(reset_to_value)
        self.max_spikes = int(max_spikes)
        self.min_v_mem = None if min_v_mem is None else f(min_v_mem)

    def onnx_attributes(self) -> dict[str, float | int]:
        return {"alpha_mem": self.alpha_mem, "norm_input": int(self.norm_input), "threshold": self.threshold,
                "multi_spike": int(self.multi_spike), "max_spikes": self.max_spikes,
                "reset_to_value": int(self.reset_to_value), "reset_amount": self.reset_amount,
                "min_v_mem": 0.0 if self.min_v_mem is None else self.min_v_mem,
                "has_min": int(self.min_v_mem is not None)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return torch.onnx.ops.symbolic("snnc::SinabsLIF", (x,), self.onnx_attributes(),
                                           dtype=x.dtype, shape=x.shape, version=1)
        alpha, thr, amount = (torch.tensor(v, dtype=x.dtype) for v in (self.alpha_mem, self.threshold,
                                                                         self.reset_amount))
        v = torch.zeros_like(x[0])
        spikes = []
        for t in range(x.shape[0]):
            v = alpha * v + ((1 - alpha) * x[t] if self.norm_input else x[t])
            if self.multi_spike:
                s = (v > 0) * torch.div(v, thr, rounding_mode="trunc")
                s = torch.clamp(s, max=self.max_spikes) if self.max_spikes > 0 else s
            else:
                s = (v - thr >= 0).to(x.dtype)
            v = v * (s == 0).to(x.dtype) + amount if self.reset_to_value else v - s * amount
            if self.min_v_mem is not None:
                v = torch.relu(v - self.min_v_mem) + self.min_v_mem
            spikes.append(s)
        return torch.stack(spikes)
