"""snnTorch (1.0) -> snnc.

snnTorch neurons take one time step per call. Its own idiom for a network that runs
without a hand-written state loop is an ``nn.Sequential`` of per-step layers with
``snn.Leaky(..., init_hidden=True)`` neurons, applied at every step::

    net = nn.Sequential(nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), snn.Leaky(beta=0.9, init_hidden=True), ...)
    for step in range(T):
        spk = net(x[step])

``snnc.export(net, x)`` with ``x: [T, N, ...]`` exports exactly that loop:
:func:`adapt_model` turns the Sequential into a multi-step one, each stateless layer
folded over time (:class:`snnc.nn.SeqToBatch`) and each ``Leaky`` the ``snnc::Leaky`` op
(:class:`snnc.nn.frameworks.Leaky`), whose equations are snnTorch's: β, θ, the reset
mechanism, ``reset_delay``, and the strict ``U > θ``. A last ``Leaky(output=True)``
also returns its membrane; the exported file returns the spikes only.

``snn.Synaptic`` (a decaying synaptic current into the Leaky membrane) likewise becomes
``snnc::Synaptic`` (:class:`snnc.nn.frameworks.Synaptic`).

Refused by name: a ``Leaky`` called with an explicit ``mem`` in the user's own
``forward`` loop (the exporter would unroll it into T copies with no time axis left),
other snnTorch neurons (Alpha, Lapicque, RLeaky, RSynaptic, …: no dialect op yet), and options
that change the forward (inhibition, state_quant, graded spikes, custom spike_grad,
one β or θ per neuron).
"""

from __future__ import annotations

import copy

from torch import nn

from snnc.onnx.adapters.common import KEEP, refuse, scalar

_IDIOM = ("write the per-step network as nn.Sequential(..., snn.Leaky(beta, init_hidden=True), ...) "
          "and export it with [T, N, ...] inputs: snnc runs it at every step as snnTorch's loop does")


def _is_neuron(module) -> bool:
    return type(module).__module__.startswith("snntorch._neurons")


def adapt_model(model):
    """The multi-step equivalent of a per-step ``nn.Sequential`` of snnTorch neurons, or
    ``model`` itself when it is not one (the per-module pass then names what it refuses)."""
    import snntorch

    if type(model) is not nn.Sequential or not any(isinstance(m, (snntorch.Leaky, snntorch.Synaptic))
                                                   for m in model):
        return model
    from snnc.nn import SeqToBatch

    model = copy.deepcopy(model)        # the user's modules keep their mode and state
    layers = []
    for i, child in enumerate(model):
        path = str(i)
        if _is_neuron(child):
            layers.append(_translate_leaky(path, child, per_step_sequential=True))
        elif any(True for _ in child.buffers()) and type(child).__module__.startswith("snntorch"):
            raise refuse(path, child, "a stateful snnTorch module with no snnc dialect op")
        else:
            layers.append(SeqToBatch(child))
    return nn.Sequential(*layers)


def translate(path: str, module):
    """Per module: a neuron reached here was not in a per-step Sequential: refused."""
    if _is_neuron(module):
        import snntorch

        if type(module) in (snntorch.Leaky, snntorch.Synaptic):
            raise refuse(path, module, "called once per time step from the model's own forward loop, "
                         "which exports as T unrolled copies with no time axis; " + _IDIOM)
        raise refuse(path, module, "no snnc dialect op expresses this snnTorch neuron yet "
                     "(snnc translates snn.Leaky and snn.Synaptic)")
    return KEEP


def _translate_leaky(path: str, module, per_step_sequential: bool):
    import snntorch

    from snnc.nn.frameworks import Leaky, Synaptic

    if type(module) not in (snntorch.Leaky, snntorch.Synaptic):
        raise refuse(path, module, "no snnc dialect op expresses this snnTorch neuron yet "
                     "(snnc translates snn.Leaky and snn.Synaptic, exact types)")
    if not module.init_hidden:
        raise refuse(path, module, "init_hidden=False: its membrane is passed by the caller; " + _IDIOM)
    if module.inhibition:
        raise refuse(path, module, "inhibition=True (winner-take-all across the batch) has no snnc op")
    if module.state_quant:
        raise refuse(path, module, "state_quant quantises the membrane; snnc's Leaky is float32")
    if scalar(path, module, "graded_spikes_factor", module.graded_spikes_factor) != 1.0:
        raise refuse(path, module, "graded spikes (graded_spikes_factor != 1) have no snnc op")
    grad = module.spike_grad
    bypass = getattr(grad, "__func__", grad) is getattr(type(module), "_surrogate_bypass", None)
    if not bypass and getattr(grad, "__module__", "") != "snntorch.surrogate":
        raise refuse(path, module, "a custom spike_grad: its forward may not be snnTorch's Heaviside "
                     "(U - threshold > 0); use one of snntorch.surrogate's")
    beta = min(max(scalar(path, module, "beta", module.beta), 0.0), 1.0)   # snnTorch clamps β
    threshold = scalar(path, module, "threshold", module.threshold)
    mechanism = {0: "subtract", 1: "zero", 2: "none"}[int(module.reset_mechanism_val)]
    if type(module) is snntorch.Synaptic:
        alpha = min(max(scalar(path, module, "alpha", module.alpha), 0.0), 1.0)
        return Synaptic(alpha, beta, threshold, mechanism, bool(module.reset_delay))
    return Leaky(beta, threshold, mechanism, bool(module.reset_delay))
