"""Framework adapters: other SNN libraries' models exported *as written*.

``snnc.export`` calls :func:`adapt` first. Where a library's idiom is a *per-step*
network (snnTorch's ``nn.Sequential`` of ``init_hidden`` neurons, Norse's
``SequentialState`` of cells, run by a loop over time) or a layout of its own (Sinabs'
``(batch, time)``), its ``adapt_model`` first turns
the whole network into a multi-step one over ``[T, N, ...]``. Then :func:`adapt` walks
the model and, for every module from a known SNN library, asks that library's adapter
(one module here per library) for one of three answers:

- a replacement: a stateful neuron becomes the :mod:`snnc.nn` neuron whose ``snnc``
  dialect op expresses its semantics exactly (``LIF``/``IF``, or one of the ops added
  for other frameworks in :mod:`snnc.onnx.dialect_frameworks`), parameters carried over;
- ``KEEP``: a stateless wrapper (SpikingJelly's ``layer.Conv2d``, ``SeqToANNContainer``)
  that is a plain PyTorch module underneath and exports as it is;
- a refusal: :class:`~snnc.ir.errors.UnsupportedError` naming the module, its class and
  why no dialect op expresses it (never an approximation).

The user's model is never modified: the replacements go into a deep copy.
"""

from __future__ import annotations

import copy

from snnc.onnx.adapters import norse, sinabs, snntorch, spikingjelly
from snnc.onnx.adapters.common import KEEP, refuse

#: package name -> ``translate(path, module)``: a replacement module, KEEP, or a refusal
ADAPTERS = {"spikingjelly": spikingjelly.translate, "snntorch": snntorch.translate, "norse": norse.translate,
            "sinabs": sinabs.translate}
#: package name -> ``adapt_model(model)``: the whole model rewritten first, where a library's
#: idiom is a per-step network (snnTorch's Sequential of ``init_hidden`` neurons), or a layout of its own (Sinabs)
MODEL_ADAPTERS = {"snntorch": snntorch.adapt_model, "norse": norse.adapt_model, "sinabs": sinabs.adapt_model}


def package_of(module) -> str:
    """The library a module comes from: the first class of its MRO that a known library
    defines (a user's subclass of ``neuron.LIFNode`` is SpikingJelly's), else its own."""
    for cls in type(module).__mro__:
        package = cls.__module__.split(".")[0]
        if package in ADAPTERS:
            return package
    return type(module).__module__.split(".")[0]


def foreign(model) -> bool:
    """Whether any module of ``model`` comes from a library with an adapter."""
    return any(package_of(m) in ADAPTERS for m in model.modules())


def adapt(model):
    """``model``, or a deep copy of it with every foreign neuron translated (see module doc)."""
    if not foreign(model):
        return model
    present = {package_of(m) for m in model.modules()}
    for package, adapt_model in MODEL_ADAPTERS.items():
        if package in present:
            model = adapt_model(model)
    replacements = {}
    for path, module in model.named_modules():
        if any(path.startswith(done + ".") for done in replacements if done):
            continue                    # inside a module already replaced
        package = package_of(module)
        if package not in ADAPTERS:
            continue
        new = ADAPTERS[package](path or "<root>", module)
        if new is not KEEP:
            replacements[path] = new
    if not replacements:
        return model
    if "" in replacements:
        return replacements[""]
    adapted = copy.deepcopy(model)
    for path, new in replacements.items():
        parent, _, leaf = path.rpartition(".")
        setattr(adapted.get_submodule(parent) if parent else adapted, leaf, new)
    return adapted


__all__ = ["ADAPTERS", "KEEP", "MODEL_ADAPTERS", "adapt", "foreign", "package_of", "refuse"]
