"""Which axes of an ONNX tensor are time and batch.

A tensor's layout is a block of *batch-like* axes, one of

    ("T", "N")   time, then batch: [T, N, ...]     (a neuron's input and output)
    ("TN",)      time folded into batch: [T*N, ...] (PyTorch's flatten(0, 1))
    ("N",)       batch only: [N, ...]              (outside time, or an ANN)
    ("1", "N")   a unit axis where time will go:   [1, N, ...] (x.unsqueeze(0))
    ()           a constant

at position ``pos`` (0 almost always; attention code moves the batch inwards for a
while: ``qkv.permute(2, 0, 3, 1, 4)`` is ``[3, N, heads, L, d]``). The per-sample shape
is every other axis, in order. Layouts are read off the probes by value: with T and N
probed at two different pairs, a dimension equal to T, N or T·N in both is that axis;
one equal in neither is a feature. When T is a constant of the file (a repeat encoder
inside the model) the axis order decides: T comes right before N.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        return len(self.batch) + len(self.sample)

    def is_batch_axis(self, axis: int) -> bool:
        return self.pos <= axis < self.pos + len(self.batch)

    def to_sample(self, axis: int) -> int:
        """A full (non-batch) axis index as a per-sample axis index."""
        return axis if axis < self.pos else axis - len(self.batch)

    def describe(self) -> str:
        dims = [str(d) for d in self.sample]
        dims[self.pos:self.pos] = list(self.batch)
        return "[" + ", ".join(dims) + "]"


def _match(dims: list[tuple[int, ...]], probes: list[Sizes], i: int, pattern: tuple[str, ...]) -> bool:
    for shape, p in zip(dims, probes):
        if len(shape) < i + len(pattern):
            return False
        for j, tag in enumerate(pattern):
            want = {"T": p.T, "N": p.N, "TN": None if p.T is None else p.T * p.N, "1": 1}[tag]
            if want is None or shape[i + j] != want:
                return False
    return True


_LEADING = [("T", "N"), ("TN",), ("N",), ("1", "N")]
_INNER = [("T", "N"), ("TN",), ("N",)]


def classify(dims: list[tuple[int, ...]], probes: list[Sizes], hints: list[Layout] = ()) -> Layout | None:
    """The layout of a tensor with shape ``dims[k]`` at probe ``probes[k]``; None when no
    block of axes reads as time/batch, or another axis varies with T or N.

    ``hints`` (the layouts of the producing op's inputs) are tried first: a shape such as
    ``[1, N, ...]`` reads both as a unit time axis before the batch and as a batch in
    second place, and the op that made it decides which."""
    rank = len(dims[0])
    candidates = [(h.pos, h.batch) for h in hints if h.batch]
    candidates += [(0, p) for p in _LEADING] + [(i, p) for i in range(1, rank) for p in _INNER]
    for pos, pattern in candidates:
        if _match(dims, probes, pos, pattern):
            samples = {shape[:pos] + shape[pos + len(pattern):] for shape in dims}
            if len(samples) == 1:
                return Layout(pattern, samples.pop(), pos)
    return None


def constant_layout(shape: tuple[int, ...]) -> Layout:
    return Layout((), tuple(shape))
