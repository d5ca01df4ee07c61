"""The ``snnc.*`` metadata of an exported file, and the inputs' sizes, checked at the
front door: a malformed value names its key and is refused at import, not when compile
(or numpy) trips over it later (issue 17)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from snnc.ir.errors import SnncError
from snnc.ir.limits import check_bytes, elements, loads
from snnc.onnx.dialect import ANN_MACS_KEY, LAYOUT_KEY, TIMESTEPS_KEY

#: more steps than any SNN in the papers runs (they use 4..16); a bound on a typo, not a model
MAX_TIMESTEPS = 1_000_000


def read_metadata(layout: str | None, timesteps: str | None) -> tuple[dict, int | None]:
    """``snnc.layout`` (input name -> {"time_axis", "batch_axis"}) and ``snnc.timesteps``."""
    layouts = {} if layout is None else loads(layout, f"metadata {LAYOUT_KEY}")
    if not isinstance(layouts, dict):
        raise SnncError(f"metadata {LAYOUT_KEY} is {layout[:60]!r}; it should map each input's name to "
                        '{"time_axis": 0, "batch_axis": 1} (re-export the model)')
    for name, spec in layouts.items():
        if isinstance(spec, dict):
            for key, axis in spec.items():
                if axis is not None and (not isinstance(axis, int) or isinstance(axis, bool)):
                    raise SnncError(f"metadata {LAYOUT_KEY}: {key} of input {name!r} is {axis!r}, not an axis "
                                    "number (re-export the model)")
    if timesteps is None:
        return layouts, None
    try:
        steps = int(timesteps.strip())
    except ValueError:
        raise SnncError(f"metadata {TIMESTEPS_KEY} is {timesteps[:40]!r}, not a whole number of time steps "
                        "(re-export the model)") from None
    if not 1 <= steps <= MAX_TIMESTEPS:
        raise SnncError(f"metadata {TIMESTEPS_KEY} is {steps}; it must be between 1 and {MAX_TIMESTEPS} "
                        "(re-export the model)")
    return layouts, steps


def check_input_size(name: str, sample_dims: list, elem_type: int) -> None:
    """One sample of input ``name`` must hold something and fit in memory."""
    if any(d == 0 for d in sample_dims):
        raise SnncError(f"input {name!r} has a zero-size dimension (per-sample shape {sample_dims}); "
                        "export with the real input size")
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).itemsize
    except (KeyError, TypeError, ValueError):
        raise SnncError(f"input {name!r} has element type {elem_type}, which snnc does not read; "
                        "inputs are float32") from None
    if elem_type in (TensorProto.STRING, TensorProto.UNDEFINED):
        raise SnncError(f"input {name!r} is not numeric; inputs are float32")
    check_bytes(elements(sample_dims) * itemsize, f"one sample of input {name!r} (shape {sample_dims})",
                "export with the real input size")


def read_ann_macs(text: str | None) -> int | None:
    """The ``snnc.ann_macs`` entry a converted SNN carries (its ANN's MACs per sample)."""
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise SnncError(f"metadata {ANN_MACS_KEY} is {text[:40]!r}, not a whole number of MACs "
                        "(re-convert the model with snnc convert)")
    return int(text)
