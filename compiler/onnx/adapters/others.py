"""snnTorch, Norse, Sinabs: no adapter translates their neurons yet; each is refused by
name with the reason (and a model that only uses their stateless helpers passes).

snnTorch's ``Leaky`` differs from every ``snnc`` dialect neuron in three ways, so no
existing op can stand for it without approximating (snnTorch 1.0 ``_neurons/leaky.py``):
it fires on ``U > θ`` (strict), where snnc fires on ``H >= θ``; its default reset
(``reset_delay=True``) subtracts θ at the step *after* the spike, inside
``U[t] = β·U[t-1] + X[t] - S[t-1]·θ``, so the reset is not decayed by β as snnc's is; and
models call it once per time step in the user's own Python loop, which the exporter
unrolls into T copies with no time axis to recover.
"""

from __future__ import annotations

from snnc.onnx.adapters.common import KEEP, refuse

_SNNTORCH = ("snnTorch neurons fire on U > threshold and, by default, reset one step late "
             "(U[t] = beta*U[t-1] + X[t] - S[t-1]*threshold), which no snnc dialect op expresses "
             "exactly; rewrite the layer with snnc.nn.LIF over [T, N, ...] inputs")
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
    "snntorch": _refuser(_SNNTORCH, ("snntorch._neurons",)),
    "norse": _refuser(_NORSE, ("norse.torch.module", "norse.torch.functional")),
    "sinabs": _refuser(_SINABS, ("sinabs.layers", "sinabs.activation")),
}
