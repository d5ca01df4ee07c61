"""Spike kinds: what values an edge can carry.

A kind is a set of values: a finite set of levels, or every real number (``analog``).
Sets are ordered by inclusion, which makes them a lattice (join = union). The names a
user reads are the sets that matter on neuromorphic hardware:

| kind            | levels                | made by                                         |
|-----------------|-----------------------|-------------------------------------------------|
| ``spike``       | {0, 1}                | LIF/IF neurons, MaxPool/reshape of spikes       |
| ``signed``      | {-1, 0, 1}            | two-sided neurons                               |
| ``count(k)``    | {0, 1, …, k}          | Add of spike tensors (Spikformer's residual)    |
| ``graded(n)``   | any other finite set  | scaled spikes                                   |
| ``graded(levels=n)`` | {0, ±θ·gap^k}, k < n | ECMT multi-threshold neurons: one signed      |
|                 |                       | graded spike per step (a Loihi 2 graded payload)|
| ``analog``      | all reals             | Conv/Linear/BN outputs, images, softmax         |

Arithmetic on kinds is arithmetic on their level sets (``add``: {a + b}), capped at
:data:`MAX_LEVELS` levels, past which a kind is treated as analog.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

#: a finite kind with more levels than this is analog for every purpose here
MAX_LEVELS = 4096


def _canon(x: float) -> float:
    # one float per level: -0.0 and 0.0 are the same level; ints print without ".0"
    x = float(x) + 0.0
    return x


@dataclass(frozen=True)
class Kind:
    """A set of values an edge can carry; ``levels is None`` means every real (analog)."""

    levels: frozenset[float] | None = None
    #: > 0: the graded spikes of a multi-threshold neuron with this many levels per sign
    #: (ECMT Section 4.3): every nonzero is ±θ·gap^k, k < spike_levels. ``levels`` may then be
    #: None (per-channel θ with too many distinct values); the values are still events.
    spike_levels: int = 0

    @staticmethod
    def of(levels) -> Kind:
        """The kind holding exactly ``levels`` (analog if there are too many)."""
        levels = frozenset(_canon(v) for v in levels)
        if len(levels) > MAX_LEVELS or any(not np.isfinite(v) for v in levels):
            return ANALOG
        return Kind(levels)

    @staticmethod
    def of_array(value: np.ndarray) -> Kind:
        """The kind of a constant: its distinct values, if there are few enough."""
        value = np.asarray(value)
        if value.size > 16 * MAX_LEVELS and value.dtype.kind == "f":
            return ANALOG            # a weight-sized float tensor: not worth a unique()
        if value.dtype == bool:
            value = value.astype(np.int8)
        if value.dtype.kind not in "iuf":
            return ANALOG
        distinct = np.unique(value)
        return ANALOG if distinct.size > MAX_LEVELS else Kind.of(distinct.tolist())

    # -- what it is ---------------------------------------------------------
    @property
    def is_analog(self) -> bool:
        return self.levels is None and not self.spike_levels

    @property
    def is_graded_spike(self) -> bool:
        """One signed graded spike of a multi-threshold neuron: a synapse adds the weight
        shifted by the payload's exponent (no multiplier, ECMT Eq. 13)."""
        return self.spike_levels > 0

    @property
    def is_binary(self) -> bool:
        """Carries only 0 and 1: an event is "a 1 happened", what neurocores send."""
        return self.levels is not None and self.levels <= {0.0, 1.0}

    @property
    def is_spike_like(self) -> bool:
        """Binary or signed: every nonzero is ±1, so a synapse needs no multiplier."""
        return self.levels is not None and self.levels <= {-1.0, 0.0, 1.0}

    @property
    def count_max(self) -> int | None:
        """k if the levels are a subset of {0, …, k} with k >= 2 (an integer count), else None."""
        if self.levels is None or not all(v >= 0 and v == int(v) for v in self.levels):
            return None
        k = int(max(self.levels, default=0))
        return k if k >= 2 else None

    @property
    def name(self) -> str:
        if self.spike_levels:
            return f"graded(levels={self.spike_levels})"
        if self.levels is None:
            return "analog"
        if self.is_binary:
            return "spike"
        if self.levels <= {-1.0, 0.0, 1.0}:
            return "signed"
        k = self.count_max
        if k is not None and self.levels == frozenset(float(i) for i in range(k + 1)):
            return f"count({k})"
        return f"graded({len(self.levels)})"

    def __str__(self) -> str:
        return self.name

    def describe(self) -> str:
        """The name, and the levels when there are few: ``graded(3){0,0.125,0.25}``."""
        if self.levels is None or len(self.levels) > 8 or self.name in ("spike", "signed") \
                or self.name.startswith("count"):
            return self.name
        return self.name + "{" + ",".join(f"{v:g}" for v in sorted(self.levels)) + "}"

    # -- serialisation ------------------------------------------------------
    def to_json(self):
        levels = None if self.levels is None else sorted(self.levels)
        return {"levels": levels, "spike_levels": self.spike_levels} if self.spike_levels else levels

    @staticmethod
    def from_json(data) -> Kind:
        if isinstance(data, dict):
            base = Kind.from_json(data["levels"])
            return Kind(base.levels, int(data["spike_levels"]))
        return ANALOG if data is None else Kind.of(data)


ANALOG = Kind(None)
SPIKE = Kind(frozenset({0.0, 1.0}))
SIGNED = Kind(frozenset({-1.0, 0.0, 1.0}))


def count(k: int) -> Kind:
    """{0, 1, …, k}: the sum of k spike tensors (analog past :data:`MAX_LEVELS` levels)."""
    return ANALOG if k + 1 > MAX_LEVELS else Kind.of(range(k + 1))


def graded(levels) -> Kind:
    return Kind.of(levels)


def float32_powers(gap: float, n: int) -> list:
    """``[1, gap, gap², ...]`` (n values) as running float32 products (g_{k+1} = f32(g_k·gap)):
    how the multi-threshold neuron's levels are computed everywhere (PyTorch, the ONNX body,
    numpy), since a float32 Mul rounds the same on every runtime and a Pow does not."""
    g, out, s = np.float32(gap), [], np.float32(1.0)
    for _ in range(n):
        out.append(s)
        s = np.float32(s * g)
    return out


def graded_spikes(levels: int, gap: float, theta_pos, theta_neg) -> Kind:
    """The output of an ECMT multi-threshold neuron: 0 and ±θ·gap^k for k < ``levels``,
    θ per sign (a scalar or per-channel list), computed in float32 as the neuron fires them."""
    f32 = np.float32
    scales = float32_powers(gap, levels)
    values = [0.0]
    for sign, thetas in ((1.0, theta_pos), (-1.0, theta_neg)):
        for th in np.atleast_1d(np.asarray(thetas, dtype=f32)):
            values += [sign * float(f32(th) * s) for s in scales]
    return Kind(Kind.of(values).levels, int(levels))


def _combine(a: Kind, b: Kind, op) -> Kind:
    if a.levels is None or b.levels is None or len(a.levels) * len(b.levels) > MAX_LEVELS ** 2:
        return ANALOG
    return Kind.of(op(x, y) for x, y in itertools.product(a.levels, b.levels))


def join(*kinds: Kind) -> Kind:
    """The least kind holding every value of every kind (set union). Graded spikes joined
    with graded spikes (or zeros: a pad) stay graded spikes, of the most levels: a concat
    of multi-threshold outputs still carries one signed graded spike per element and step."""
    graded = [k.spike_levels for k in kinds if k.spike_levels]
    if graded and all(k.spike_levels or (k.levels is not None and k.levels <= {0.0}) for k in kinds):
        levels = None if any(k.levels is None for k in kinds) else \
            Kind.of(itertools.chain.from_iterable(k.levels for k in kinds)).levels
        return Kind(levels, max(graded))
    if any(k.levels is None for k in kinds):
        return ANALOG
    return Kind.of(itertools.chain.from_iterable(k.levels for k in kinds))


def add(a: Kind, b: Kind) -> Kind:
    """``a + b``: spike + spike = count(2); count(a) + count(b) = count(a + b)."""
    return _combine(a, b, lambda x, y: x + y)


def sub(a: Kind, b: Kind) -> Kind:
    return _combine(a, b, lambda x, y: x - y)


def mul(a: Kind, b: Kind) -> Kind:
    """``a * b``: a spike times a constant c is graded({0, c})."""
    return _combine(a, b, lambda x, y: x * y)


def div(a: Kind, b: Kind) -> Kind:
    if b.levels is not None and 0.0 in b.levels:
        return ANALOG
    return _combine(a, b, lambda x, y: x / y)


def apply(kind: Kind, fn) -> Kind:
    """The kind of ``fn`` applied elementwise (ReLU, Clip, Neg, …)."""
    return ANALOG if kind.levels is None else Kind.of(fn(v) for v in kind.levels)


def dot(a: Kind, b: Kind, inner: int) -> Kind:
    """A sum of ``inner`` products of values from a and b: MatMul of two kinds.

    spike @ spike over an inner dimension d gives count(d) (Spikformer's Q Kᵀ).
    """
    if a.levels is None or b.levels is None or inner <= 0:
        return ANALOG
    products = mul(a, b)
    if products.levels is None:
        return ANALOG
    if all(v >= 0 and v == int(v) for v in products.levels):
        return count(int(max(products.levels, default=0)) * inner)     # analog when huge
    lo, hi = min(products.levels), max(products.levels)
    if len(products.levels) * inner > MAX_LEVELS:
        return ANALOG
    # integers times a common step: the sums are multiples of the step
    step = min((abs(v) for v in products.levels if v), default=1.0)
    if all(float(v / step).is_integer() for v in products.levels):
        return Kind.of(step * i for i in range(int(round(lo / step * inner)), int(round(hi / step * inner)) + 1))
    return ANALOG
