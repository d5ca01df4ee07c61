"""Resource bounds: sizes are checked against the machine's free memory *before* anything
is allocated, so a hostile or mistaken size (an input of 2**31 features, 10**9 samples,
an .npy header claiming 2**40 elements) is one error line with the figure, not a
MemoryError after minutes of swapping (issue 17).

Also the JSON reader that every snnc JSON document goes through: Python's ``json``
recurses once per nesting level, so a document nested 100,000 deep raises
RecursionError; :func:`loads` turns that (and any decode error) into an
:class:`~snnc.ir.errors.SnncError`.
"""

from __future__ import annotations

import json
import math
import os

from snnc.ir.errors import SnncError

#: used where the free memory cannot be read (not Linux): generous, still finite
_FALLBACK_BYTES = 64 << 30


def available_bytes() -> int:
    """Free physical memory now: ``SC_AVPHYS_PAGES`` pages, or ``MemAvailable`` of
    /proc/meminfo (which also counts reclaimable caches) when that is larger."""
    found = []
    try:
        found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return max(found) if found else _FALLBACK_BYTES


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def elements(shape) -> int:
    """The number of elements of ``shape`` as an exact Python int (no int64 overflow)."""
    return math.prod(int(d) for d in shape)


#: sizes below this are never refused for want of free memory
_SMALL = 16 << 20
#: the user's cap (``snnc --max-memory``), or None: the free memory alone
_cap: int | None = None


def set_cap(nbytes: int | None) -> None:
    global _cap
    _cap = nbytes


def parse_size(text: str) -> int:
    """``"4G"``, ``"512M"``, ``"1.5GiB"``, ``"100000"`` (bytes) -> bytes."""
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = t[-1:] if t[-1:] in units and t[-1:] else ""
    try:
        value = float(t[:-1] if unit else t)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (say 4G, 512M or a number of bytes)") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r}: a size must be a positive number")
    return int(value * units[unit])


def check_bytes(nbytes: int, what: str, fix: str = "") -> None:
    """Raise naming ``what`` when ``nbytes`` exceed the free memory (or ``--max-memory``)."""
    tail = f"; {fix}" if fix else ""
    if _cap is not None and nbytes > _cap:
        raise SnncError(f"{what} needs {fmt_bytes(nbytes)}, more than --max-memory {fmt_bytes(_cap)}{tail}")
    if nbytes <= _SMALL:
        return                  # not worth a read of /proc/meminfo (a model has thousands of tensors)
    free = available_bytes()
    if nbytes > free:
        raise SnncError(f"{what} needs {fmt_bytes(nbytes)}, more than the {fmt_bytes(free)} of free memory{tail}")


def loads(text: str | bytes, what: str, invalid: str = "not valid JSON"):
    """``json.loads`` whose failures (bad syntax, nesting deep enough to exhaust Python's
    recursion) are one :class:`SnncError` naming ``what``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise SnncError(f"{what}: JSON nested too deeply to read; it is not a document snnc wrote") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SnncError(f"{what}: {invalid} ({err})") from err
