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
from snnc.ir.limits import check_bytes, elements, fmt_bytes

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
        check_input_array(arr, f"input {name!r}")
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
        if arr.dtype != np.dtype(value.dtype):       # a copy: a repeated input becomes T real copies
            check_bytes(elements(arr.shape) * np.dtype(value.dtype).itemsize, f"input {name!r} as {value.dtype}",
                        "use fewer samples or fewer time steps")
        feeds[name] = arr.astype(value.dtype, copy=False)
    return feeds


def random_inputs(graph: Graph, samples: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Uniform [0, 1) samples ``[N, ...]`` for every input (static images)."""
    if samples < 1:
        raise SnncError(f"samples must be >= 1, got {samples}")
    sample_bytes = sum(elements(graph.values[n].shape) * 4 for n in graph.inputs)
    # the inputs and the least the simulator then holds (two activations as large as the
    # input over T steps, see Simulator._check_memory): refused before the inputs are drawn
    timed = any(graph.values[n].timed for n in graph.inputs)
    steps = (graph.meta.get("timesteps") or DEFAULT_TIMESTEPS) if timed else 1
    check_run_size(samples, (1 + 2 * steps) * sample_bytes, 1, f"{samples} random sample(s)")
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


def check_npy_header(path) -> None:
    """Read an .npy file's header only and refuse, before numpy allocates anything, an
    array that the file cannot hold (a header claiming 2**40 elements over 64 bytes of
    data) or that would not fit in memory. Not an .npy file: left to ``np.load``."""
    import os
    import tokenize

    from numpy.lib import format as npy_format

    try:
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":
                raise SnncError(f"{path} is a numpy .npz archive; give one array as an .npy file (np.save)")
            f.seek(0)
            version = npy_format.read_magic(f)
            read = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}.get(version)
            if read is None:
                return
            shape, _, dtype = read(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError, MemoryError) as err:
        # numpy parses the header with Python's tokenizer: a flipped bit may raise any of these
        raise SnncError(f"{path}: not a numpy .npy array (unreadable header: {type(err).__name__}: "
                        f"{str(err)[:120]})") from None
    if dtype.hasobject:
        return                          # np.load refuses pickled arrays itself
    nbytes = elements(shape) * dtype.itemsize
    size = os.path.getsize(path) - offset
    if nbytes > size:
        raise SnncError(f"{path}: its header claims shape {list(shape)} {dtype} ({fmt_bytes(nbytes)}) but the "
                        f"file holds {fmt_bytes(size)} of data; the file is truncated or corrupt")
    check_bytes(nbytes, f"{path} (shape {list(shape)} {dtype})")


def check_input_array(arr: np.ndarray, what: str) -> None:
    """A run input holds samples, and finite numbers (a NaN would spread silently)."""
    if arr.size == 0:
        raise SnncError(f"{what} has shape {list(arr.shape)}: it holds no values; give at least one sample")
    if arr.dtype.kind == "f":
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise SnncError(f"{what} holds {bad} NaN/inf value(s) of {arr.size}; inputs must be finite numbers")


def check_run_size(samples: int, sample_bytes: int, steps: int, what: str) -> None:
    """``samples`` x ``steps`` x ``sample_bytes`` must fit in memory (before allocating)."""
    check_bytes(int(samples) * int(steps) * int(sample_bytes), what,
                "use fewer samples, fewer time steps or a smaller model")
