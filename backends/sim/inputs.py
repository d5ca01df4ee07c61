"""Inputs for the simulator: arrays shaped for the graph, random images, the digits set.

A graph input with a time axis takes ``[T, N, ...]`` (events, used as is) or ``[N, ...]``
(a static image, repeated at each of T steps: direct encoding); a graph input outside
time (the model repeats it itself) takes ``[N, ...]``. A single sample may drop N.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph
from snnc.ir.query import timesteps as graph_timesteps

#: T when neither the caller nor the model says
DEFAULT_TIMESTEPS = 4


def shape_inputs(graph: Graph, inputs, timesteps: int | None = None) -> dict[str, np.ndarray]:
    """``inputs`` (one array, or a dict by input name) as the run-time arrays the graph reads."""
    if timesteps is not None and timesteps < 1:
        raise SnncError(f"timesteps must be >= 1, got {timesteps}")
    if not isinstance(inputs, dict):
        if len(graph.inputs) != 1:
            raise SnncError(f"the graph takes {len(graph.inputs)} inputs {graph.inputs}; pass them by name")
        inputs = {graph.inputs[0]: inputs}
    missing = [n for n in graph.inputs if n not in inputs]
    if missing:
        raise SnncError(f"missing input(s) {missing}; the graph takes {graph.inputs}")
    repeated = graph_timesteps(graph)
    if repeated is not None and timesteps is not None and timesteps != repeated:
        raise SnncError(f"the model repeats its input over T={repeated} steps; --timesteps {timesteps} "
                        f"cannot change that (re-export the model with T={timesteps})")
    feeds = {}
    for name, arr in inputs.items():
        if name not in graph.values or name not in graph.inputs:
            raise SnncError(f"unknown input {name!r}; the graph takes {graph.inputs}")
        value = graph.values[name]
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf":
            raise SnncError(f"input {name!r} holds {arr.dtype} values; give numbers")
        rank = len(value.shape)
        shape = "[" + ", ".join(map(str, value.shape)) + "]"
        if tuple(arr.shape[arr.ndim - rank:]) != value.shape or arr.ndim < rank:
            raise SnncError(f"input {name!r} has shape {list(arr.shape)}; the model takes samples of shape {shape} "
                            f"({'[T, N, ...] events or ' if value.timed else ''}[N, ...] or one sample)")
        if arr.ndim == rank:
            arr = arr[None]
        if value.timed:
            if arr.ndim == rank + 1:                       # static: repeat over T
                steps = timesteps or graph.meta.get("timesteps") or DEFAULT_TIMESTEPS
                arr = np.broadcast_to(arr[None], (steps, *arr.shape))
            elif arr.ndim == rank + 2:
                if timesteps is not None and arr.shape[0] != timesteps:
                    raise SnncError(f"input {name!r} has {arr.shape[0]} time steps but timesteps={timesteps}")
            else:
                raise SnncError(f"input {name!r} has shape {list(arr.shape)}: too many axes for samples of "
                                f"shape {shape}")
        elif arr.ndim != rank + 1:
            raise SnncError(f"input {name!r} has shape {list(arr.shape)}; the model takes [N, ...] samples "
                            f"of shape {shape}")
        feeds[name] = arr.astype(value.dtype, copy=False)
    return feeds


def random_inputs(graph: Graph, samples: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Uniform [0, 1) samples ``[N, ...]`` for every input (static images)."""
    if samples < 1:
        raise SnncError(f"samples must be >= 1, got {samples}")
    rng = np.random.default_rng(seed)
    return {n: rng.random((samples, *graph.values[n].shape), dtype=np.float32) for n in graph.inputs}


def digits_inputs(graph: Graph, samples: int = 16) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The first ``samples`` images of scikit-learn's bundled digits (8x8, 0..16; shipped
    with scikit-learn, nothing downloaded), scaled to [0, 1], resized (nearest) to the
    model's input and repeated over its channels. Returns the feeds and the labels."""
    if len(graph.inputs) != 1:
        raise SnncError(f"--digits feeds one image input; the graph takes {graph.inputs}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise SnncError("--digits needs scikit-learn: pip install scikit-learn") from err
    digits = load_digits()
    if not 1 <= samples <= len(digits.images):
        raise SnncError(f"samples must be between 1 and {len(digits.images)}, got {samples}")
    images = (digits.images[:samples] / 16.0).astype(np.float32)      # [N, 8, 8]
    name = graph.inputs[0]
    shape = graph.values[name].shape
    if len(shape) == 1 and shape[0] == 64:
        return {name: images.reshape(samples, 64)}, digits.target[:samples]
    if len(shape) not in (2, 3):
        raise SnncError(f"--digits needs an image input [C, H, W] or [H, W]; {name!r} is {list(shape)}")
    height, width = shape[-2:]
    rows = (np.arange(height) * 8) // height
    cols = (np.arange(width) * 8) // width
    resized = images[:, rows][:, :, cols]
    if len(shape) == 3:
        resized = np.repeat(resized[:, None], shape[0], axis=1)
    return {name: np.ascontiguousarray(resized)}, digits.target[:samples]
