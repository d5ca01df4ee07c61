"""Norse (1.1) -> snnc: ``LIFBoxCell`` and ``LIFCell`` in Norse's per-step ``SequentialState`` idiom.

Norse cells take one time step per call and return ``(spikes, state)``; a network is a
``norse.torch.SequentialState`` (or ``nn.Sequential``) of layers and cells, run by a
loop that threads the state::

    net = norse.torch.SequentialState(nn.Linear(16, 8), norse.torch.LIFBoxCell(p))
    state = None
    for t in range(T):
        out, state = net(x[t], state)

``snnc.export(net, x)`` with ``x: [T, N, ...]`` exports that loop's spike output:
:func:`adapt_model` makes each stateless layer act at every step
(:class:`snnc.nn.SeqToBatch`) and each ``LIFBoxCell`` the ``snnc::LIFBox`` op
(:class:`snnc.nn.frameworks.LIFBox`: Norse's Euler step with k = dt·τ_mem⁻¹, its strict
``v > v_th``, reset to a value or by subtraction) and each ``LIFCell``, the current-based
LIF, the ``snnc::LIFCurrent`` op (:class:`snnc.nn.frameworks.LIFCurrent`). The state output is
not exported.

Refused by name: every other Norse neuron (``LIF`` over whole sequences, adaptive,
Izhikevich, …: no dialect op yet), per-neuron parameters, threshold methods other than
'super'/'heaviside', reset methods other than ``reset_value`` / ``reset_subtract``,
``return_hidden``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from snnc.onnx.adapters.common import KEEP, refuse, scalar

_OTHER = ("no snnc dialect op expresses this Norse neuron yet (snnc translates LIFBoxCell and LIFCell "
          "in a per-step SequentialState); rewrite the layer with snnc.nn.LIF / snnc.nn.IF")


def _is_neuron(module) -> bool:
    name = type(module).__module__
    return name.startswith("norse.torch.module") and not isinstance(module, nn.Sequential) \
        and type(module).__name__ not in ("Lift",)


def adapt_model(model):
    """A per-step Sequential(State) holding ``LIFBoxCell`` neurons, made multi-step."""
    from norse.torch import LIFBoxCell, LIFCell

    if not isinstance(model, nn.Sequential) or not any(isinstance(m, (LIFBoxCell, LIFCell)) for m in model):
        return model
    if getattr(model, "return_hidden", False):
        raise refuse("<root>", model, "return_hidden=True returns every layer's output; snnc exports one")
    from snnc.nn import SeqToBatch

    model = copy.deepcopy(model)
    layers = []
    for i, child in enumerate(model):
        if _is_neuron(child):
            layers.append(_translate_cell(str(i), child))
        else:
            layers.append(SeqToBatch(child))
    return nn.Sequential(*layers)


def translate(path: str, module):
    if _is_neuron(module):
        raise refuse(path, module, _OTHER)
    return KEEP


def _translate_cell(path: str, module):
    from norse.torch import LIFBoxCell, LIFCell
    from norse.torch.functional.reset import reset_subtract, reset_value

    from snnc.nn.frameworks import LIFBox, LIFCurrent

    if type(module) not in (LIFBoxCell, LIFCell):
        raise refuse(path, module, _OTHER)
    p = module.p
    if p.method not in ("super", "heaviside"):
        raise refuse(path, module, f"threshold method {p.method!r}: snnc translates 'super' and 'heaviside', "
                     "whose forward is the Heaviside v - v_th > 0")
    if getattr(module, "sparse", False):
        raise refuse(path, module, "sparse=True runs Norse's sparse kernels; export the dense cell")
    names = ("tau_mem_inv", "v_leak", "v_th", "v_reset") + (("tau_syn_inv",) if type(module) is LIFCell else ())
    for name in names:
        value = getattr(p, name)
        if torch.is_tensor(value) and value.numel() != 1:
            raise refuse(path, module, f"{name} holds one value per neuron; snnc's neuron takes one number")
    with torch.no_grad():   # the factors as Norse computes them: a Python float times a float32 tensor
        k_mem = module.dt * torch.as_tensor(p.tau_mem_inv, dtype=torch.float32)
        k_syn = -module.dt * torch.as_tensor(getattr(p, "tau_syn_inv", 0.0), dtype=torch.float32)
    common = (scalar(path, module, "v_leak", p.v_leak), scalar(path, module, "v_th", p.v_th),
              scalar(path, module, "v_reset", p.v_reset))
    if type(module) is LIFCell:
        return LIFCurrent(scalar(path, module, "dt*tau_mem_inv", k_mem), scalar(path, module, "-dt*tau_syn_inv", k_syn),
                          *common)
    if p.reset_method not in (reset_value, reset_subtract):
        raise refuse(path, module, f"reset method {getattr(p.reset_method, '__name__', p.reset_method)} "
                     "has no snnc op (reset_value and reset_subtract do)")
    return LIFBox(scalar(path, module, "dt*tau_mem_inv", k_mem), *common,
                  reset_subtract=p.reset_method is reset_subtract)
