"""SpikingJelly (``spikingjelly.activation_based``, 2.0) -> snnc.

Multi-step (``step_mode='m'``) models take ``[T, N, ...]``, as snnc's do. Translated:

- ``neuron.LIFNode`` -> :class:`snnc.nn.LIF` (tau, decay_input, v_threshold, v_reset;
  ``v_reset=None`` is the soft reset), ``neuron.IFNode`` -> :class:`snnc.nn.IF`,
  ``neuron.ParametricLIFNode`` -> :class:`snnc.nn.LIF` with tau = 1/sigmoid(w).
  SpikingJelly fires on ``H - v_threshold >= 0``, which for float32 is ``H >=
  v_threshold`` (a difference of floats is 0 exactly when they are equal), the same
  Heaviside as snnc's (Spikingformer Eq. 2); hard reset ``S·v_reset + (1 - S)·H`` and
  soft reset ``H - S·v_threshold`` are, for S in {0, 1}, exactly snnc's ``Where``.
- ``layer.Dropout``/``Dropout2d``: the identity at inference.
- every other module that keeps no state (``layer.Conv2d``, ``layer.BatchNorm2d``,
  ``SeqToANNContainer``, surrogate functions…) is a torch module underneath: kept.

Two charges round differently from the dialect's LIF body and are refused unless the
decay is a power of two (then both are the one correctly rounded value):
SpikingJelly 2.0's ``V - V/tau + X`` (no decay_input, reset 0) against the dialect's
``V·(1 - 1/tau) + X``, and ParametricLIF's ``(X - (V - V_reset))·sigmoid(w)`` against the
dialect's ``/ tau``.
"""

from __future__ import annotations

from torch import nn

from snnc.onnx.adapters.common import KEEP, power_of_two, refuse, scalar

_SET_MODE = "call spikingjelly.activation_based.functional.set_step_mode(net, 'm') and pass [T, N, ...] inputs"


def translate(path: str, module):
    """A replacement for ``module``, :data:`KEEP`, or a refusal (see the module doc)."""
    from spikingjelly.activation_based import base, layer, neuron

    if isinstance(module, neuron.BaseNode):
        return _neuron(path, module, neuron)
    if type(module) in (layer.Dropout, layer.Dropout2d):
        return nn.Identity()
    if isinstance(module, base.MemoryModule):
        raise refuse(path, module, "a stateful SpikingJelly module with no snnc dialect op; "
                     "snnc translates LIFNode, IFNode and ParametricLIFNode")
    if isinstance(module, base.StepModule) and getattr(module, "step_mode", "m") != "m":
        raise refuse(path, module, f"is in single-step mode ('{module.step_mode}'); snnc exports "
                     f"multi-step models: {_SET_MODE}")
    return KEEP


def _neuron(path: str, module, neuron):
    from snnc.nn import IF, LIF

    kind = type(module)
    if kind not in (neuron.LIFNode, neuron.IFNode, neuron.ParametricLIFNode):
        raise refuse(path, module, "no snnc dialect op expresses this neuron; snnc translates "
                     "SpikingJelly's LIFNode, IFNode and ParametricLIFNode (exact types, not subclasses)")
    if module.step_mode != "m":
        raise refuse(path, module, f"is in single-step mode ('s'), one time step per call; {_SET_MODE}")
    surrogate = getattr(module, "surrogate_function", None)
    if getattr(surrogate, "spiking", True) is False:
        raise refuse(path, module, "its surrogate function has spiking=False, so its forward is the "
                     "smooth primitive, not a spike; set_spiking_mode(True) before export")
    if getattr(module, "_neuron_precision", None) is not None:
        raise refuse(path, module, "runs at a reduced neuron precision; snnc neurons are float32")
    v_threshold = scalar(path, module, "v_threshold", module.v_threshold)
    v_reset = None if module.v_reset is None else scalar(path, module, "v_reset", module.v_reset)
    if kind is neuron.IFNode:
        return IF(v_threshold=v_threshold, v_reset=v_reset)
    if kind is neuron.LIFNode:
        tau = scalar(path, module, "tau", module.tau)
        decay = 1.0 / tau
        exact_when = "tau"
    else:
        import torch

        with torch.no_grad():
            decay = scalar(path, module, "sigmoid(w)", module.w.float().sigmoid())
        tau = 1.0 / decay
        exact_when = "sigmoid(w)"
        if not power_of_two(decay):
            raise refuse(path, module, f"its decay sigmoid(w) = {decay!r} multiplies, where snnc's LIF "
                         "divides by tau; the two round differently unless the decay is a power of two "
                         "(init_tau=2, 4, ... untrained)")
    no_decay_reset0 = not module.decay_input and (v_reset is None or v_reset == 0.0)
    if no_decay_reset0 and not power_of_two(decay):
        raise refuse(path, module, f"decay_input=False with a zero or soft reset charges V - V/tau + X, "
                     f"which snnc's LIF computes as V*(1 - 1/tau) + X; the two round alike only when "
                     f"{exact_when} is a power of two (tau = {tau!r})")
    return LIF(tau=tau, v_threshold=v_threshold, v_reset=v_reset, decay_input=bool(module.decay_input))
