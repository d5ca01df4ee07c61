"""Which axes of an ONNX tensor are time and batch.

A tensor's layout is a block of *batch-like* axes, one of

    ("T", "N")   time, then batch: [T, N, ...]     (a neuron's input and output)
    ("TN",)      time folded into batch: [T*N, ...] (PyTorch's flatten(0, 1))
    ("N",)       batch only: [N, ...]              (outside time, or an ANN)
    ("1", "N")   a unit axis where time will go:   [1, N, ...] (x.unsqueeze(0))
    ()           a constant

at position ``pos`` (0 almost always; attention code moves the batch inwards for a
while: ``qkv.permute(2, 0, 3, 1, 4)`` is ``[3, N, heads, L, d]``). The per-sample shape
is every other axis, in order. A batch axis may also be *merged* with a sample axis:
batch-major, ``[N, heads, L, d].reshape(-1, L, d)`` is ``[N*heads, L, d]`` (the dynamo
exporter's attention), or batch-minor, ``[L, N, E].reshape(-1, E)`` is ``[L*N, E]``
(``nn.MultiheadAttention``'s sequence-first rows); per sample that axis is ``heads``
(``L``) long. The shapes cannot tell the two apart; the reshape that makes one can.

Layouts are read off the probes by value: with T and N probed at two different pairs,
a dimension equal to T, N or T·N in both is that axis (N·k for one k > 1: merged); one
equal in neither is a feature. When T is a constant of the file (a repeat encoder
inside the model) the axis order decides: T comes right before N.

A file with its batch fixed at 1 may be readable at that one probe only, where every
unit axis reads as N. There the op decides: Transpose, Slice, Split, Squeeze, Unsqueeze
and Gather carry their input's block along the axes they keep (:func:`carried`), and a
reshape takes the reading with as many values in front of the batch as its input has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

TIMED = {("T", "N"), ("TN",)}


@dataclass(frozen=True)
class Sizes:
    """The T and N of one probe (T is None before a model's time axis is known)."""

    T: int | None
    N: int


@dataclass(frozen=True)
class Layout:
    batch: tuple[str, ...]
    sample: tuple[int, ...]
    pos: int = 0
    merged: str = ""        # "major" ([N*k, ...]) or "minor" ([k*N, ...]): one batch axis
                            # that also holds sample axis ``pos`` (k long)

    @property
    def axes(self) -> str:
        """The IR value's ``axes``: ``"TN"``, ``"N"`` or ``""``."""
        if self.batch in TIMED:
            return "TN"
        return "N" if self.batch else ""

    @property
    def n_batch(self) -> int:
        return len(self.batch)

    @property
    def full_rank(self) -> int:
        return len(self.batch) + len(self.sample) - bool(self.merged)

    def is_batch_axis(self, axis: int) -> bool:
        return self.pos <= axis < self.pos + len(self.batch)

    def to_sample(self, axis: int) -> int:
        """A full (non-batch, or merged) axis index as a per-sample axis index."""
        return axis if axis < self.pos or self.merged else axis - len(self.batch)

    def sample_axes(self) -> list[int]:
        """The full axes that hold per-sample axes, in per-sample order."""
        return [a for a in range(self.full_rank) if self.merged or not self.is_batch_axis(a)]

    def front(self, shape: tuple[int, ...]) -> int:
        """How many values sit in front of the batch in row-major order, ``shape`` being
        this layout's full shape at one probe: a per-sample reshape keeps it."""
        inner = self.sample[self.pos] if self.merged == "minor" else 1
        return int(math.prod(shape[:self.pos])) * inner

    def shape_at(self, probe: Sizes) -> tuple[int, ...] | None:
        """The full shape at probe sizes ``probe`` (None where a batch size is unknown)."""
        sizes = [_size(tag, probe) for tag in self.batch]
        if None in sizes:
            return None
        dims = list(self.sample)
        if self.merged:
            dims[self.pos] *= sizes[0]
        else:
            dims[self.pos:self.pos] = sizes
        return tuple(dims)

    def flipped(self) -> Layout:
        """The other reading of a merged axis (major <-> minor)."""
        return replace(self, merged={"major": "minor", "minor": "major"}[self.merged])

    def describe(self) -> str:
        dims = [str(d) for d in self.sample]
        if self.merged == "major":
            dims[self.pos] = f"{self.batch[0]}*{dims[self.pos]}"
        elif self.merged:
            dims[self.pos] = f"{dims[self.pos]}*{self.batch[0]}"
        else:
            dims[self.pos:self.pos] = list(self.batch)
        return "[" + ", ".join(dims) + "]"


def _size(tag: str, p: Sizes) -> int | None:
    return {"T": p.T, "N": p.N, "TN": None if p.T is None else p.T * p.N, "1": 1}[tag]


def _match(dims: list[tuple[int, ...]], probes: list[Sizes], i: int, pattern: tuple[str, ...]) -> bool:
    for shape, p in zip(dims, probes):
        if len(shape) < i + len(pattern):
            return False
        for j, tag in enumerate(pattern):
            want = _size(tag, p)
            if want is None or shape[i + j] != want:
                return False
    return True


def _merged(dims: list[tuple[int, ...]], probes: list[Sizes], i: int, tag: str) -> int | None:
    """k when axis ``i`` is ``size(tag) * k`` at every probe, for one k > 1."""
    ks = set()
    for shape, p in zip(dims, probes):
        want = _size(tag, p)
        if want is None or len(shape) <= i or shape[i] % want:
            return None
        ks.add(shape[i] // want)
    return ks.pop() if len(ks) == 1 and min(ks) > 1 else None


_LEADING = [("T", "N"), ("TN",), ("N",), ("1", "N")]
_INNER = [("T", "N"), ("TN",), ("N",)]
_MERGED = [("N",), ("TN",)]


def classify(dims: list[tuple[int, ...]], probes: list[Sizes], hints: list[Layout] = ()) -> Layout | None:
    """The layout of a tensor with shape ``dims[k]`` at probe ``probes[k]``; None when no
    block of axes reads as time/batch, or another axis varies with T or N.

    ``hints`` (the layouts of the producing op's inputs) are tried first: a shape such as
    ``[1, N, ...]`` reads both as a unit time axis before the batch and as a batch in
    second place, and the op that made it decides which."""
    return next(readings(dims, probes, hints), None)


def readings(dims: list[tuple[int, ...]], probes: list[Sizes], hints: list[Layout] = ()):
    """Every layout the shapes allow, the likeliest first (:func:`classify` takes the first;
    a reshape takes the first that keeps the values in front of the batch)."""
    rank = len(dims[0])
    candidates = [(h.pos, h.batch, h.merged) for h in hints if h.batch]
    candidates += [(0, p, "") for p in _LEADING] + [(i, p, "") for i in range(1, rank) for p in _INNER]
    candidates += [(i, p, "major") for i in range(rank) for p in _MERGED]
    for pos, pattern, merged in candidates:
        if merged:
            k = _merged(dims, probes, pos, pattern[0]) if len(pattern) == 1 else None
            if k is None:
                continue
            samples = {shape[:pos] + (k,) + shape[pos + 1:] for shape in dims}
        elif _match(dims, probes, pos, pattern):
            samples = {shape[:pos] + shape[pos + len(pattern):] for shape in dims}
        else:
            continue
        if len(samples) == 1:
            yield Layout(pattern, samples.pop(), pos, merged)


def carried(src: Layout, source: list[int | None], dims: list[tuple[int, ...]],
            probes: list[Sizes]) -> Layout | None:
    """The layout of an op's output whose axis ``j`` is input axis ``source[j]`` (None: an
    axis the op makes), given the input's layout ``src`` and the output's shape ``dims[k]``
    at probe ``probes[k]``. Transpose (``source`` = perm), Slice and Split (every axis kept),
    Squeeze, Unsqueeze and Gather (axes dropped or made) move the batch block with the axes
    that carry it, whatever its size: at a fixed batch of 1 the shapes alone cannot tell
    ``[3, N*64, 3, 49, 32]`` (Swin's ``qkv.permute(2, 0, 3, 1, 4)``) from a batch merged
    into its first axis. None when the block does not come through whole and in order
    (squeezed away, split or reordered): the shapes then decide (:func:`classify`)."""
    block = [src.pos] if src.merged else list(range(src.pos, src.pos + src.n_batch))
    if not src.batch or any(source.count(b) != 1 for b in block):
        return None
    at = [source.index(b) for b in block]
    if at != list(range(at[0], at[0] + len(at))):
        return None
    pos, first = at[0], dims[0]
    if src.merged:
        size = _size(src.batch[0], probes[0])
        if not size or first[pos] % size:
            return None
        sample = first[:pos] + (first[pos] // size,) + first[pos + 1:]
    else:
        sample = first[:pos] + first[pos + len(at):]
    out = Layout(src.batch, tuple(sample), pos, src.merged)
    if out.batch == ("N",) and not out.merged and pos == 1 and source[0] is None and sample[0] == 1:
        out = Layout(("1", "N"), tuple(sample[1:]))     # x.unsqueeze(0): where time will go
    return out if all(out.shape_at(p) == tuple(d) for d, p in zip(dims, probes)) else None


def constant_layout(shape: tuple[int, ...]) -> Layout:
    return Layout((), tuple(shape))
