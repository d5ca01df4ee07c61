"""Initializers read defensively: every tensor's type, dims and data length are checked
against each other *before* numpy sees them (a short ``raw_data``, dims [8, 2**40], an
UNDEFINED type would otherwise surface as numpy's "buffer size must be a multiple of
element size" or a MemoryError), and float weights must not hold NaN (issue 17).

±inf is allowed in constants here (attention masks use it); the IR verifier refuses it
in weights (:func:`snnc.ir.verify.problems`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from snnc.ir.errors import SnncError
from snnc.ir.limits import check_bytes, elements

# types numpy holds natively; the rest (bfloat16, float8/6/4, int4/2, complex, string)
# have no meaning in an SNN's weights and no numpy dtype the IR could carry
_READABLE = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BOOL,
             TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
             TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}
# the repeated field holding each type's values when it has no raw_data
_FIELD = {TensorProto.FLOAT: "float_data", TensorProto.DOUBLE: "double_data", TensorProto.INT64: "int64_data",
          TensorProto.UINT32: "uint64_data", TensorProto.UINT64: "uint64_data"}


def type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"unknown type {elem_type}"


def read_tensor(t: TensorProto, what: str) -> np.ndarray:
    """``t`` as a numpy array, or a one-line error naming ``what`` (e.g. "initializer 'w'")."""
    if t.data_type not in _READABLE:
        raise SnncError(f"{what} has type {type_name(t.data_type)}, which snnc does not read; "
                        "store weights and constants as float32 (or an integer/bool type)")
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise SnncError(f"{what} has negative dims {dims}; the file is corrupt")
    count = elements(dims)
    itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    if t.data_location == TensorProto.EXTERNAL and not t.HasField("raw_data"):
        raise SnncError(f"{what}: its external data was not loaded; keep the .data file next to the .onnx file")
    if t.HasField("raw_data"):
        have = len(t.raw_data) // itemsize if len(t.raw_data) % itemsize == 0 else None
    else:
        have = len(getattr(t, _FIELD.get(t.data_type, "int32_data")))
    if have != count:
        held = f"{len(t.raw_data)} bytes" if t.HasField("raw_data") else f"{have} values"
        raise SnncError(f"{what} holds {held} but its dims {dims} ({type_name(t.data_type)}) need "
                        f"{count} values ({count * itemsize} bytes); the file is corrupt or truncated")
    check_bytes(count * itemsize, f"{what} of dims {dims}")
    try:
        arr = numpy_helper.to_array(t)
    except (ValueError, TypeError) as err:
        raise SnncError(f"{what}: unreadable tensor data ({err})") from err
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        bad = int(np.isnan(arr).sum())
        raise SnncError(f"{what} holds {bad} NaN value(s) of {arr.size}; fix the weights and re-export")
    return arr


def read_initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: read_tensor(t, f"initializer {t.name!r}") for t in model.graph.initializer}
