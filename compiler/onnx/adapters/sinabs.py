"""Sinabs (3.1) -> snnc: ``IAF``/``LIF`` and their ``Squeeze`` forms in an ``nn.Sequential``.

Sinabs layers run a whole sequence per call, laid out ``(batch, time, ...)`` (``IAF``,
``LIF``) or folded ``[batch*time, ...]`` (``IAFSqueeze``, ``LIFSqueeze``, what
``sinabs.from_model`` builds). snnc's files take ``[T, N, ...]``: :func:`adapt_model`
turns the Sequential into a multi-step one over that layout (each stateless layer
applied per step, :class:`snnc.nn.SeqToBatch`; each neuron the ``snnc::SinabsLIF`` op,
:class:`snnc.nn.frameworks.SinabsLIF`), so the exported file reads ``x`` where Sinabs
reads ``x.transpose(0, 1)`` (or that, flattened). Semantics carried over exactly:
α_mem (1 for IAF, ``exp(-1/tau_mem)`` as torch computes it for LIF), ``norm_input``,
the threshold, SingleSpike (``V − θ >= 0``) or Multi/MaxSpike (``(V > 0)·⌊V/θ⌋``, capped:
the output is a spike count), MembraneSubtract or MembraneReset, ``min_v_mem``.

Refused by name: synaptic currents (``tau_syn``), trained alphas, recurrent and
adaptive layers (``*Recurrent``, ``ALIF``), layout modules (``FlattenTime``,
``UnflattenTime``, ``Repeat``: the layout is snnc's), per-neuron thresholds.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from snnc.onnx.adapters.common import KEEP, refuse, scalar

_NEURONS = ("IAF", "IAFSqueeze", "LIF", "LIFSqueeze")


def _is_layer(module, names) -> bool:
    return type(module).__module__.startswith("sinabs.layers") and type(module).__name__ in names


def _is_stateful(module) -> bool:
    from sinabs.layers import StatefulLayer

    return isinstance(module, StatefulLayer)


def adapt_model(model):
    """A Sequential of Sinabs neurons and stateless layers, made multi-step over [T, N, ...]."""
    if not isinstance(model, nn.Sequential) or not any(_is_layer(m, _NEURONS) for m in model):
        return model
    from snnc.nn import SeqToBatch

    model = copy.deepcopy(model)
    layers = []
    for i, child in enumerate(model):
        if _is_layer(child, _NEURONS):
            layers.append(_translate(str(i), child))
        elif _is_stateful(child) or _is_layer(child, ("FlattenTime", "UnflattenTime", "Repeat")):
            translate(str(i), child)                # refused, by name
        else:
            layers.append(SeqToBatch(child))
    return nn.Sequential(*layers)


def translate(path: str, module):
    if _is_layer(module, ("FlattenTime", "UnflattenTime", "Repeat")):
        raise refuse(path, module, "reshapes between Sinabs' (batch, time) layouts; snnc's files take "
                     "[T, N, ...], so leave the layout out of the model")
    if _is_stateful(module) or _is_layer(module, _NEURONS):
        raise refuse(path, module, "no snnc dialect op expresses this Sinabs layer here (snnc translates "
                     "IAF, IAFSqueeze, LIF and LIFSqueeze at the top level of an nn.Sequential)")
    return KEEP


def _translate(path: str, module):
    from sinabs.activation import MaxSpike, MembraneReset, MembraneSubtract, MultiSpike, SingleSpike

    from snnc.nn.frameworks import SinabsLIF

    if getattr(module, "tau_syn", None) is not None:
        raise refuse(path, module, "a synaptic current (tau_syn) has no snnc op yet")
    if getattr(module, "train_alphas", False):
        raise refuse(path, module, "train_alphas=True: export with tau_mem instead of a trained alpha")
    spike_fn, reset_fn = module.spike_fn, module.reset_fn
    if spike_fn is SingleSpike:
        multi, cap = False, 0
    elif spike_fn is MultiSpike:
        multi, cap = True, 0
    elif isinstance(spike_fn, MaxSpike) and spike_fn.max_num_spikes_per_bin:
        multi, cap = True, int(spike_fn.max_num_spikes_per_bin)
    else:
        raise refuse(path, module, f"spike_fn {spike_fn!r}: snnc translates SingleSpike, MultiSpike and MaxSpike")
    threshold = scalar(path, module, "spike_threshold", module.spike_threshold)
    if not threshold > 0:
        raise refuse(path, module, f"spike_threshold must be > 0, got {threshold}")
    if isinstance(reset_fn, MembraneSubtract):
        to_value = False
        amount = threshold if reset_fn.subtract_value is None else scalar(path, module, "subtract_value",
                                                                          reset_fn.subtract_value)
    elif isinstance(reset_fn, MembraneReset):
        to_value, amount = True, scalar(path, module, "reset_value", reset_fn.reset_value)
    else:
        raise refuse(path, module, f"reset_fn {reset_fn!r}: snnc translates MembraneSubtract and MembraneReset")
    with torch.no_grad():
        alpha = scalar(path, module, "alpha_mem", module.alpha_mem_calculated)
    min_v = None if module.min_v_mem is None else scalar(path, module, "min_v_mem", module.min_v_mem)
    return SinabsLIF(alpha, bool(module.norm_input), threshold, multi, cap, to_value, amount, min_v)
