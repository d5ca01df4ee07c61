"""Multi-step spiking neurons over ``[T, N, ...]`` tensors, SpikingJelly semantics.

Each neuron keeps a membrane potential ``V`` per element, starting at ``v_reset``
(0 for soft reset), and for every time step t (Spikingformer Eq. 1-2):

    charge   H[t] = f(V[t-1], X[t])                      (LIF: leaky, IF: V + X)
    fire     S[t] = 1 if H[t] >= v_threshold else 0      (Heaviside, Θ(0) = 1)
    reset    V[t] = v_reset          if S[t] and hard reset
                    H[t] - v_threshold if S[t] and soft reset (``v_reset=None``)
                    H[t]             otherwise

The LIF charge follows SpikingJelly's ``LIFNode.neuronal_charge`` formula for formula,
so outputs are bit-identical to it and to the ``snnc`` ONNX function bodies
(:mod:`snnc.onnx.dialect`), which onnxruntime runs:

    decay_input, any reset:              H = V + (X - (V - V_reset)) / tau
    no decay_input, V_reset != 0:        H = V - (V - V_reset) / tau + X
    no decay_input, V_reset == 0 / soft: H = V * (1 - 1/tau) + X

All constants are rounded to float32 once, here, so that PyTorch (float32 scalars),
onnxruntime and numpy compute with the same numbers. Under ``torch.onnx.export`` a
neuron is emitted as ONE ``snnc``-domain node whose attributes are these constants.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _f32(x: float) -> float:
    return float(np.float32(x))


class _SpikeFn(torch.autograd.Function):
    """Heaviside ``H >= v_th`` forward; sigmoid surrogate gradient backward.

    The surrogate is SpikingJelly's default: dS/dH = α·σ(α(H - v_th))·(1 - σ(α(H - v_th))).
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, v_threshold: float, alpha: float) -> torch.Tensor:
        ctx.save_for_backward(h)
        ctx.v_threshold, ctx.alpha = v_threshold, alpha
        return (h >= v_threshold).to(h.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (h,) = ctx.saved_tensors
        sg = torch.sigmoid(ctx.alpha * (h - ctx.v_threshold))
        return grad * ctx.alpha * sg * (1.0 - sg), None, None


class SpikingNeuron(nn.Module):
    """Base of the stateful spiking ops: the time loop, firing, reset and export.

    Subclasses define :meth:`charge` and :meth:`onnx_attributes`; ``onnx_op`` names the
    ``snnc`` dialect op the neuron exports to.
    """

    onnx_op: str = ""

    def __init__(self, v_threshold: float = 1.0, v_reset: float | None = 0.0,
                 detach_reset: bool = False, surrogate_alpha: float = 4.0, step_mode: str = "m"):
        super().__init__()
        # SpikingJelly's model builders pass step_mode='m' to a `spiking_neuron=` class
        if step_mode != "m":
            raise ValueError(f"{type(self).__name__}: step_mode must be 'm' (multi-step, [T, N, ...] "
                             f"inputs), got {step_mode!r}")
        if not np.isfinite(v_threshold):
            raise ValueError(f"{type(self).__name__}: v_threshold must be finite, got {v_threshold}")
        if v_reset is not None and not np.isfinite(v_reset):
            raise ValueError(f"{type(self).__name__}: v_reset must be finite or None, got {v_reset}")
        self.v_threshold = _f32(v_threshold)
        self.v_reset = None if v_reset is None else _f32(v_reset)
        self.detach_reset = detach_reset
        self.surrogate_alpha = float(surrogate_alpha)

    @property
    def soft_reset(self) -> bool:
        return self.v_reset is None

    @property
    def v_init(self) -> float:
        """The membrane potential before the first step."""
        return 0.0 if self.v_reset is None else self.v_reset

    def charge(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def onnx_attributes(self) -> dict[str, float | int]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} expects [T, N, ...] input, got shape {tuple(x.shape)}")
        if torch.onnx.is_in_onnx_export():
            return torch.onnx.ops.symbolic(
                f"snnc::{self.onnx_op}", (x,), self.onnx_attributes(),
                dtype=x.dtype, shape=x.shape, version=1)
        v = torch.full_like(x[0], self.v_init)
        spikes = []
        for t in range(x.shape[0]):
            h = self.charge(v, x[t])
            s = _SpikeFn.apply(h, self.v_threshold, self.surrogate_alpha)
            v = self._reset(h, s)
            spikes.append(s)
        return torch.stack(spikes)

    def _reset(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        # torch.where keeps the value exact (a 0/1 multiplier would round); the
        # straight-through term adds an exact zero and carries dV/dS for training.
        fired = s.detach().bool()
        if self.soft_reset:
            v = torch.where(fired, h - self.v_threshold, h)
            grad_path = -self.v_threshold
        else:
            v = torch.where(fired, torch.full_like(h, self.v_reset), h)
            grad_path = self.v_reset - h
        if not self.detach_reset and s.requires_grad:
            v = v + (s - s.detach()) * grad_path
        return v

    def extra_repr(self) -> str:
        reset = "soft" if self.soft_reset else f"v_reset={self.v_reset}"
        return f"v_threshold={self.v_threshold}, {reset}"


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire neuron (Spikingformer Eq. 1-2; SpikingJelly ``LIFNode``).

    Args:
        tau: membrane time constant, > 1.
        v_threshold: firing threshold; fires when ``H >= v_threshold``.
        v_reset: hard-reset potential, or ``None`` for soft reset (subtract threshold).
        decay_input: whether the input is divided by tau as well (SpikingJelly default).
        detach_reset: stop the gradient through the reset (Spikformer trains with it).
    """

    onnx_op = "LIF"

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float | None = 0.0,
                 decay_input: bool = True, detach_reset: bool = False,
                 surrogate_alpha: float = 4.0, step_mode: str = "m"):
        super().__init__(v_threshold, v_reset, detach_reset, surrogate_alpha, step_mode)
        if not (np.isfinite(tau) and tau > 1.0):
            raise ValueError(f"LIF: tau must be a finite number > 1, got {tau}")
        self.tau = _f32(tau)
        self.decay_input = bool(decay_input)
        # float32 arithmetic, as the ONNX function body computes it: Sub(1, Div(1, tau))
        one = np.float32(1.0)
        self._keep = float(one - one / np.float32(self.tau))

    def charge(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v_reset = 0.0 if self.v_reset is None else self.v_reset
        if self.decay_input:
            return v + (x - (v - v_reset)) / self.tau
        if v_reset == 0.0:
            return v * self._keep + x
        return v - (v - v_reset) / self.tau + x

    def onnx_attributes(self) -> dict[str, float | int]:
        return {
            "tau": self.tau,
            "v_threshold": self.v_threshold,
            "v_reset": 0.0 if self.v_reset is None else self.v_reset,
            "soft_reset": int(self.soft_reset),
            "decay_input": int(self.decay_input),
        }

    def extra_repr(self) -> str:
        return f"tau={self.tau}, {super().extra_repr()}, decay_input={self.decay_input}"


class IF(SpikingNeuron):
    """Integrate-and-fire neuron, no leak: ``H = V + X`` (SpikingJelly ``IFNode``)."""

    onnx_op = "IF"

    def charge(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return v + x

    def onnx_attributes(self) -> dict[str, float | int]:
        return {
            "v_threshold": self.v_threshold,
            "v_reset": 0.0 if self.v_reset is None else self.v_reset,
            "soft_reset": int(self.soft_reset),
        }
