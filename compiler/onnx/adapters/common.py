"""What every adapter shares: the KEEP answer, refusals by name, float32 exactness tests."""

from __future__ import annotations

import math

import numpy as np

from snnc.ir.errors import UnsupportedError


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


#: the answer for a module that exports as it is (a stateless wrapper of a torch module)
KEEP = _Keep()


def refuse(path: str, module, reason: str) -> UnsupportedError:
    """The error for a module no dialect op expresses, by name and with the reason."""
    kind = type(module)
    return UnsupportedError(f"module '{path}' ({kind.__module__}.{kind.__name__}): {reason}")


def scalar(path: str, module, name: str, value) -> float:
    """A parameter that must be one finite number (a float, or a tensor of one element)."""
    try:
        number = float(value.detach().reshape(-1)[0]) if hasattr(value, "detach") and value.numel() == 1 \
            else float(value)
    except (TypeError, ValueError, RuntimeError):
        raise refuse(path, module, f"{name} must be one number to map onto an snnc neuron, "
                     f"got {type(value).__name__} of shape {tuple(getattr(value, 'shape', ()))}") from None
    if not math.isfinite(number):
        raise refuse(path, module, f"{name} must be finite, got {number}")
    return number


def power_of_two(x: float) -> bool:
    """Whether float32 ``x`` is ±2^k: then ``y * x`` and ``y / (1/x)`` round identically
    for every float32 ``y`` (both are the correctly rounded y·x), and 1/x is exact."""
    m, _ = math.frexp(float(np.float32(x)))
    return x != 0 and abs(m) == 0.5
