"""The op registry: the one place that knows an op.

An :class:`OpDef` carries everything about one op: its attribute schema, parameter
names, shape rule, spike-kind transfer rule, cost rule and numpy reference semantics.
Front ends, verifier, printer, simulator and energy report all read the same entry;
adding an op means adding one entry (``@op(...)`` in a module of :mod:`snnc.ir.ops`).

Calling conventions (``node`` is the :class:`~snnc.ir.graph.Node`, ``ins`` its input
:class:`~snnc.ir.graph.Value` objects):

- ``shape(node, ins) -> [shape, ...]``: per-sample, per-step output shapes;
- ``kind(node, ins) -> [Kind, ...]``: output spike kinds from input kinds;
- ``flops(node, ins, outs) -> int``: multiply-accumulates of one dense evaluation for
  one sample at one step (what an ANN would spend; the papers' "FLOPs");
- ``fanout(node, ins, outs) -> array`` (synaptic ops; optional): an integer array of the
  input's per-sample shape, the number of synapses (output elements) each input element
  feeds, padding-, stride- and group-aware: what the simulator multiplies each nonzero
  input by to count ACs exactly;
- ``run(node, arrays) -> [array, ...]``: the numpy reference. Stateless ops see each
  dynamic input with one leading batch axis ``[B, *shape]`` (B folds time and batch)
  and each constant as ``[1, *shape]``; ops with the ``TEMPORAL`` trait see timed
  inputs as ``[T, N, *shape]`` and static ones as ``[N, *shape]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from snnc.ir.kinds import ANALOG, Kind

# -- traits: plain sets of op names are built from these flags -------------------------
SYNAPTIC = "synaptic"            # weights times an input: Conv, ConvTranspose, Linear
NEURON = "neuron"                # stateful spiking neuron: makes spikes
TEMPORAL = "temporal"            # sees the time axis: neurons, encoders, decoders
SPIKE_PRESERVING = "spike-preserving"  # moves or selects values, never makes new ones
NONSPIKE = "nonspike"            # a nonlinearity neurocores cannot run (softmax, GELU, …)
ELEMENTWISE = "elementwise"
TIME_BOUNDARY = "time-boundary"  # enters (encoder) or leaves (decoder) the time axis
NORMALIZATION = "normalization"  # BatchNorm, LayerNorm

_REQUIRED = object()


@dataclass(frozen=True)
class Attr:
    """One attribute: its Python type (``int``, ``float``, ``str``, ``bool``, ``"ints"``,
    ``"floats"``) and default (required when none). A default of ``None`` means "unset"
    (Clip's ``min``/``max``): ``None`` is then a valid value too."""

    type: Any
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def check(self, value) -> bool:
        if value is None and self.default is None:
            return True
        if self.type == "ints":
            return isinstance(value, (list, tuple)) and all(isinstance(v, (int, np.integer)) for v in value)
        if self.type == "floats":
            return isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, np.number)) for v in value)
        if self.type is float:
            return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
        if self.type is int:
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        return isinstance(value, self.type)


def _same_dtype(node, ins):
    return [ins[0].dtype if ins else "float32"] * len(node.outputs)


def _default_axes(node, ins):
    """Timed if any input is timed; per sample if any is; else constant."""
    axes = {v.axes for v in ins}
    out = "TN" if "TN" in axes else "N" if "N" in axes else ""
    return [out] * len(node.outputs)


def _no_flops(node, ins, outs) -> int:
    return 0


def _analog(node, ins):
    return [ANALOG] * len(node.outputs)


@dataclass(frozen=True)
class OpDef:
    name: str
    doc: str
    arity: tuple[int, int]
    shape: Callable
    run: Callable
    kind: Callable = _analog
    attrs: dict[str, Attr] = field(default_factory=dict)
    params: tuple[str, ...] = ()
    optional_params: tuple[str, ...] = ()
    flops: Callable = _no_flops
    fanout: Callable | None = None
    dtype: Callable = _same_dtype
    axes: Callable = _default_axes
    traits: frozenset[str] = frozenset()
    n_outputs: int = 1

    def has(self, trait: str) -> bool:
        return trait in self.traits

    def complete(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """``attrs`` with every optional attribute it lacks set to its default: the one
        place defaults are filled, so readers write ``node.attrs["x"]``. The given ones keep
        their order, defaults follow; unknown names are kept for :meth:`attr_problems`."""
        missing = {name: list(spec.default) if isinstance(spec.default, list) else spec.default
                   for name, spec in self.attrs.items() if not spec.required and name not in attrs}
        return {**attrs, **missing}

    def attr_problems(self, attrs: dict[str, Any]) -> list[str]:
        """Unknown and missing required attribute names, each naming the op and what it takes."""
        allowed = f"{self.name} takes {', '.join(self.attrs) or 'no attributes'}"
        problems = [f"unknown attribute {name!r} ({allowed})" for name in attrs if name not in self.attrs]
        problems += [f"missing attribute {name!r} ({allowed}; {name!r} has no default)"
                     for name, spec in self.attrs.items() if spec.required and name not in attrs]
        return problems

    def check(self, node) -> list[str]:
        """Problems with the node's attributes, params and arity (empty when fine)."""
        problems = []
        lo, hi = self.arity
        if not lo <= len(node.inputs) <= hi:
            want = str(lo) if lo == hi else f"{lo}..{hi}"
            problems.append(f"takes {want} inputs, has {len(node.inputs)}")
        if len(node.outputs) != self.n_outputs:
            problems.append(f"makes {self.n_outputs} outputs, has {len(node.outputs)}")
        problems += self.attr_problems(node.attrs)
        for name, value in node.attrs.items():
            spec = self.attrs.get(name)
            if spec is not None and not spec.check(value):
                problems.append(f"attribute {name!r} should be {getattr(spec.type, '__name__', spec.type)}, "
                                f"got {value!r}")
        for name in self.params:
            if name not in node.params:
                problems.append(f"missing parameter {name!r}")
        for name in node.params:
            if name not in self.params and name not in self.optional_params:
                problems.append(f"unknown parameter {name!r}")
        return problems


REGISTRY: dict[str, OpDef] = {}


def op(name: str, *, arity=(1, 1), traits=(), **fields) -> Callable:
    """Register the decorated function as the numpy reference of op ``name``.

    ``@op("relu", shape=same_shape, kind=..., traits={ELEMENTWISE})`` above
    ``def relu(node, arrays): ...``. The function's docstring is the op's doc.
    """
    if isinstance(arity, int):
        arity = (arity, arity)

    def register(run: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"op {name!r} registered twice")
        REGISTRY[name] = OpDef(name=name, doc=(run.__doc__ or "").strip(), arity=arity, run=run,
                               traits=frozenset(traits), **fields)
        return run

    return register


def get(name: str) -> OpDef:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown IR op {name!r}") from None


def ops_with(*traits: str) -> frozenset[str]:
    """The names of every op with all of ``traits``: ``ops_with(SYNAPTIC)``;
    ``ops_with(SYNAPTIC, TEMPORAL)`` (the synapses that see time: Loihi's, one step late)."""
    return frozenset(n for n, d in REGISTRY.items() if all(t in d.traits for t in traits))


def kind_of_const(value: np.ndarray) -> Kind:
    return Kind.of_array(value)
