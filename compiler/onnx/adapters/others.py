"""Norse, Sinabs: no adapter translates their neurons yet; each is refused by name with
the reason (a model that only uses their stateless helpers passes). snnTorch has its own
adapter (:mod:`snnc.onnx.adapters.snntorch`)."""

from __future__ import annotations

from snnc.onnx.adapters.common import KEEP, refuse

_NORSE = ("Norse neurons are continuous-time (dt-discretised, current-based) cells with no snnc "
          "dialect op yet; rewrite the layer with snnc.nn.LIF / snnc.nn.IF")
_SINABS = ("Sinabs neurons (IAF/LIF with SingleSpike/MultiSpike) have no snnc dialect op yet; "
           "rewrite the layer with snnc.nn.IF / snnc.nn.LIF")


def _stateless(module) -> bool:
    """A module holding no neuron state: no buffers of its own and no recurrent hooks."""
    return not list(module.buffers(recurse=False)) and not hasattr(module, "reset_states") \
        and not hasattr(module, "init_leaky") and not hasattr(module, "state_fn")


def _refuser(reason: str, neuron_modules: tuple[str, ...]):
    def translate(path: str, module):
        name = type(module).__module__
        if any(name.startswith(prefix) for prefix in neuron_modules) or not _stateless(module):
            raise refuse(path, module, reason)
        return KEEP
    return translate


ADAPTERS = {
    "norse": _refuser(_NORSE, ("norse.torch.module", "norse.torch.functional")),
    "sinabs": _refuser(_SINABS, ("sinabs.layers", "sinabs.activation")),
}
