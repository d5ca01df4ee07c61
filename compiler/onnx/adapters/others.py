"""Sinabs: no adapter translates its neurons yet; each is refused by name with the reason
(a model that only uses its stateless helpers passes). snnTorch and Norse have their own
adapters."""

from __future__ import annotations

from snnc.onnx.adapters.common import KEEP, refuse

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
    "sinabs": _refuser(_SINABS, ("sinabs.layers", "sinabs.activation")),
}
