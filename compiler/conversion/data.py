"""Data sets for calibration and evaluation: ``.npy`` (one graph input) or ``.npz`` (one
array per graph input, by name), checked against the model before anything runs.

Axis 0 of every array is the sample axis; the arrays of one file hold the same number of
samples. ``.npy`` files are memory-mapped, so a large set is read batch by batch.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from snnc.ir.errors import SnncError


@dataclass(frozen=True)
class InputSpec:
    """A graph input: its name, numpy dtype and shape (``None`` where the file leaves it free)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]


def input_specs(proto: onnx.ModelProto) -> list[InputSpec]:
    """The model's real inputs (initializers listed as inputs by old exporters left out)."""
    inits = {i.name for i in proto.graph.initializer}
    specs = []
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        t = vi.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
        specs.append(InputSpec(vi.name, np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)), dims))
    return specs


def load_dataset(path: str | os.PathLike, specs: list[InputSpec]) -> dict[str, np.ndarray]:
    """The arrays of ``path`` by graph input name, each ``[S, ...]`` in the input's dtype.

    Raises a one-line :class:`SnncError` naming the file and the fix for a missing file, a
    pickled or non-numeric array, a missing or unknown input, a shape that does not fit the
    model, or arrays with different sample counts.
    """
    path = Path(path)
    if not path.is_file():
        raise SnncError(f"{path}: no such file; pass a .npy (one input) or .npz (one array per input)")
    names = [s.name for s in specs]
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            if len(arrays) == 1 and len(specs) == 1 and names[0] not in arrays:
                arrays = {names[0]: next(iter(arrays.values()))}
        elif path.suffix == ".npy":
            if len(specs) != 1:
                raise SnncError(f"{path}: the model takes {len(specs)} inputs {names}; "
                                "pass an .npz with one array per input name")
            arrays = {names[0]: np.load(path, mmap_mode="r", allow_pickle=False)}
        else:
            raise SnncError(f"{path}: unknown data format {path.suffix!r}; pass a .npy or .npz file")
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise SnncError(f"{path}: not a readable numpy file ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                        "save it with numpy.save/savez (no pickled objects)") from err
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing or extra:
        raise SnncError(f"{path}: arrays {sorted(arrays)} do not match the model's inputs {names}"
                        + (f" (missing {missing})" if missing else "") + (f" (unknown {extra})" if extra else ""))
    out = {s.name: _fit(path, s, arrays[s.name]) for s in specs}
    counts = {n: a.shape[0] for n, a in out.items()}
    if len(set(counts.values())) > 1:
        raise SnncError(f"{path}: the arrays hold different numbers of samples {counts}; give each input "
                        "the same number along axis 0")
    if next(iter(counts.values())) == 0:
        raise SnncError(f"{path}: the data set is empty (0 samples)")
    return out


def _fit(path: Path, spec: InputSpec, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise SnncError(f"{path}: array {spec.name!r} holds {arr.dtype} values; the model takes {spec.dtype}")
    if arr.ndim != len(spec.shape):
        raise SnncError(f"{path}: array {spec.name!r} has shape {list(arr.shape)} but input {spec.name!r} "
                        f"has rank {len(spec.shape)} {_dims(spec.shape)}; axis 0 is the sample axis")
    for axis, (got, want) in enumerate(zip(arr.shape[1:], spec.shape[1:]), start=1):
        if want is not None and got != want:
            raise SnncError(f"{path}: array {spec.name!r} has shape {list(arr.shape)}; input {spec.name!r} "
                            f"takes {_dims(spec.shape)} (axis {axis} is {got}, expected {want})")
    if arr.dtype.kind == "f" and spec.dtype.kind == "f" and not np.isfinite(arr).all():
        raise SnncError(f"{path}: array {spec.name!r} holds NaN or infinite values; clean the data first")
    if arr.dtype.kind == "f" and spec.dtype.kind in "iu" and not np.array_equal(arr, np.round(arr)):
        raise SnncError(f"{path}: array {spec.name!r} holds fractions but input {spec.name!r} takes "
                        f"{spec.dtype} (token ids, masks); save integers")
    return arr


def _dims(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def batches(data: dict[str, np.ndarray], specs: list[InputSpec], batch_size: int):
    """``(count, size, feeds)`` for consecutive batches, each cast to the input dtypes.

    A model exported with a fixed batch B is fed exactly B samples at a time: the last
    batch is padded with copies of its last sample, ``count`` of the ``size`` fed are real.
    """
    if batch_size < 1:
        raise SnncError(f"batch size must be >= 1, got {batch_size}")
    fixed = {s.shape[0] for s in specs if s.shape and s.shape[0] is not None}
    if len(fixed) > 1:
        raise SnncError(f"the model's inputs fix different batch sizes {sorted(fixed)}; re-export it")
    padded = bool(fixed)
    step = fixed.pop() if fixed else batch_size
    n = next(iter(data.values())).shape[0]
    for start in range(0, n, step):
        count = min(step, n - start)
        feeds = {}
        for s in specs:
            arr = np.asarray(data[s.name][start:start + count], dtype=s.dtype)
            if padded and count < step:
                arr = np.concatenate([arr, np.repeat(arr[-1:], step - count, axis=0)])
            feeds[s.name] = np.ascontiguousarray(arr)
        yield count, (step if padded else count), feeds
