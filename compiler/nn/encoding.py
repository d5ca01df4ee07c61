"""Time-boundary modules: put a static input onto the time axis, take the time axis off.

Spiking networks here run on ``[T, N, ...]`` tensors. A static image enters through
:class:`RepeatEncoder` (direct encoding, as the seeds do with
``x.unsqueeze(0).repeat(T, ...)``) and a rate-coded output leaves through
:class:`MeanDecoder` (``x.mean(0)``).
"""

from __future__ import annotations

import torch
from torch import nn


class RepeatEncoder(nn.Module):
    """``[N, ...] -> [T, N, ...]``: the same static input at every one of ``T`` steps."""

    def __init__(self, timesteps: int):
        super().__init__()
        if int(timesteps) != timesteps or timesteps < 1:
            raise ValueError(f"RepeatEncoder: timesteps must be a positive integer, got {timesteps}")
        self.timesteps = int(timesteps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).repeat(self.timesteps, *([1] * x.dim()))

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}"


class MeanDecoder(nn.Module):
    """``[T, N, ...] -> [N, ...]``: the average over time (a firing rate for spikes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(0)


class SeqToBatch(nn.Module):
    """Apply a stateless module to every time step by folding T into the batch.

    ``[T, N, ...] -> module([T*N, ...]) -> [T, N, ...]``: the ``flatten(0, 1)`` …
    ``reshape`` pattern of SpikingJelly's ``SeqToANNContainer``.
    """

    def __init__(self, *modules: nn.Module):
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.flatten(0, 1))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])
