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

Two charges round differently from the dialect's LIF body: SpikingJelly 2.0's
``V - V/tau + X`` (no decay_input, reset 0) against the dialect's ``V·(1 - 1/tau) + X``,
and ParametricLIF's ``(X - (V - V_reset))·sigmoid(w)`` against the dialect's ``/ tau``.
Where the decay is a power of two both are the one correctly rounded value and the
neuron becomes ``LIF``; otherwise it becomes ``snnc::SpikingJellyLIF``
(:class:`snnc.nn.frameworks.SpikingJellyLIF`), SpikingJelly's charge op for op.
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
    from snnc.nn.frameworks import SpikingJellyLIF

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
        decay, divide = 1.0 / tau, True
    else:
        import torch

        with torch.no_grad():
            decay = scalar(path, module, "sigmoid(w)", module.w.float().sigmoid())
        tau, divide = 1.0 / decay, False
    no_decay_reset0 = not module.decay_input and (v_reset is None or v_reset == 0.0)
    multiplies = not divide and not power_of_two(decay)
    if multiplies or (no_decay_reset0 and not power_of_two(decay)) or not tau > 1.0:
        # snnc's LIF would round differently (module doc): the exact SpikingJelly charge
        return SpikingJellyLIF(tau if divide else decay, divide, bool(module.decay_input), v_threshold, v_reset)
    return LIF(tau=tau, v_threshold=v_threshold, v_reset=v_reset, decay_input=bool(module.decay_input))
