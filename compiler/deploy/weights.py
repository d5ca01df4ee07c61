"""An artifact's weights as one binary file, not base64 inside ``program.json``.

Every parameter array of the quantised program is stored raw, little-endian, C order,
64-byte aligned, in ``weights.bin``, at the narrowest integer type that holds its values
(Loihi weights are 8-bit mantissas, Davies et al. 2018 Sec. III; the quantiser keeps
them in int32/int64 arrays): the file is within a few padding bytes per array of the
raw quantised bytes, where base64 in JSON cost 4/3 of the widest type. ``program.json``
keeps the structure (a valid snnc IR document whose nodes have no params) plus a table
``weights``: for each array its node, name, dtype in memory, stored dtype, shape, offset,
byte count. Loading maps the file (``mmap``): arrays already at their memory type are
views of the map, read only when used.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph

ALIGN = 64
# only plain numeric types: a table naming "object" or "V1000000000" is refused
DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"}
_NARROW = (np.int8, np.int16, np.int32, np.int64)


def narrowest(arr: np.ndarray) -> np.dtype:
    """The smallest signed integer type holding every value of an integer array; other
    arrays keep their type."""
    if arr.dtype.kind not in "iu" or arr.size == 0:
        return arr.dtype
    lo, hi = int(arr.min()), int(arr.max())
    for t in _NARROW:
        info = np.iinfo(t)
        if info.min <= lo and hi <= info.max:
            return np.dtype(t) if np.dtype(t).itemsize <= arr.dtype.itemsize else arr.dtype
    return arr.dtype


def pack(graph: Graph) -> tuple[list[dict], list[bytes], int]:
    """(the table, the chunks to write in order with padding, raw quantised bytes)."""
    table, chunks, offset, raw = [], [], 0, 0
    for node in graph.nodes:
        for name, arr in node.params.items():
            arr = np.asarray(arr)
            stored = narrowest(arr)
            data = np.ascontiguousarray(arr.astype(stored.newbyteorder("<"), copy=False)).tobytes()
            pad = -offset % ALIGN
            if pad:
                chunks.append(b"\0" * pad)
                offset += pad
            table.append({"node": node.name, "param": name, "dtype": str(arr.dtype), "stored": str(stored),
                          "shape": list(arr.shape), "offset": offset, "nbytes": len(data)})
            chunks.append(data)
            offset += len(data)
            raw += len(data)
    return table, chunks, raw


def write_weights(path: str | os.PathLike, chunks: list[bytes]) -> int:
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        return f.tell()


def map_file(fd: int, size: int):
    """A read-only map of an open file (``b""`` when empty: mmap refuses size 0)."""
    return mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else b""


def _ints(shape, *more) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in (*shape, *more))


def attach(graph: Graph, table, buffer, where: str) -> None:
    """Put the arrays of ``table`` (read from ``buffer``) into ``graph``'s nodes."""
    if not isinstance(table, list):
        raise SnncError(f"{where}: the weights table is not a list; recompile the artifact")
    size = len(buffer)
    for i, entry in enumerate(table):
        try:
            node = graph.node(entry["node"])
            param, shape, offset, nbytes = entry["param"], entry["shape"], entry["offset"], entry["nbytes"]
            dtype, stored = entry["dtype"], entry["stored"]
            if not (isinstance(param, str) and isinstance(shape, list) and _ints(shape, offset, nbytes)):
                raise TypeError("param must be a string, shape a list of integers, offset and nbytes integers")
        except (KeyError, TypeError, ValueError) as err:
            raise SnncError(f"{where}: weights entry {i} is malformed ({err}); recompile the artifact") from None
        if not isinstance(dtype, str) or not isinstance(stored, str) or dtype not in DTYPES or stored not in DTYPES:
            raise SnncError(f"{where}: weights entry {i} ({node.name}.{param}) has dtype {dtype!r}/{stored!r}; "
                            f"artifacts hold only {', '.join(sorted(DTYPES))}")
        st = np.dtype(stored).newbyteorder("<")
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if min(shape, default=0) < 0 or offset < 0 or nbytes != count * st.itemsize or offset + nbytes > size:
            raise SnncError(f"{where}: weights entry {i} ({node.name}.{param}) does not fit the weights file "
                            f"(shape {shape}, {nbytes} bytes at {offset} of {size}); recompile the artifact")
        arr = np.frombuffer(buffer, dtype=st, count=count, offset=offset).reshape(shape)
        if st != np.dtype(dtype) or not st.isnative:
            arr = arr.astype(np.dtype(dtype))
        node.params[param] = arr
