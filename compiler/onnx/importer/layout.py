"""Which leading axes of an ONNX tensor are time and batch.

A tensor's layout is its leading *batch-like* axes, one of

    ("T", "N")   time, then batch: [T, N, ...]     (a neuron's input and output)
    ("TN",)      time folded into batch: [T*N, ...] (PyTorch's flatten(0, 1))
    ("N",)       batch only: [N, ...]              (outside time, or an ANN)
    ("1", "N")   a unit axis where time will go:   [1, N, ...] (x.unsqueeze(0))
    ()           a constant

and what follows is the per-sample shape. Layouts are read off the probes by value: with
T and N probed at two different pairs, a dimension equal to T, N or T·N in both is that
axis; one equal in neither is a feature. When T is a constant of the file (a repeat
encoder inside the model) the axis order decides: T comes right before N.
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

    @property
    def axes(self) -> str:
        """The IR value's ``axes``: ``"TN"``, ``"N"`` or ``""``."""
        if self.batch in TIMED:
            return "TN"
        return "N" if self.batch else ""

    @property
    def rank(self) -> int:
        """How many leading ONNX axes are batch-like."""
        return len(self.batch)


def _match(dims: list[tuple[int, ...]], probes: list[Sizes], i: int, pattern: tuple[str, ...]) -> bool:
    for shape, p in zip(dims, probes):
        if len(shape) < i + len(pattern):
            return False
        for j, tag in enumerate(pattern):
            want = {"T": p.T, "N": p.N, "TN": None if p.T is None else p.T * p.N, "1": 1}[tag]
            if want is None or shape[i + j] != want:
                return False
    return True


def classify(dims: list[tuple[int, ...]], probes: list[Sizes]) -> Layout | None:
    """The layout of a tensor with shape ``dims[k]`` at probe ``probes[k]``; None when its
    leading axes are not a recognised batch layout or a later axis varies with T or N."""
    candidates = [("T", "N"), ("TN",), ("N",), ("1", "N")]
    for pattern in candidates:
        if _match(dims, probes, 0, pattern):
            sample = dims[0][len(pattern):]
            if all(shape[len(pattern):] == sample for shape in dims):
                return Layout(pattern, tuple(sample))
    return None


def constant_layout(shape: tuple[int, ...]) -> Layout:
    return Layout((), tuple(shape))
