"""Writing output files the safe way: atomically, and never over an existing one by accident."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from snnc.ir.errors import SnncError


def refuse_existing(path: Path, force: bool, what: str = "overwrite it") -> None:
    if Path(path).exists() and not force:
        raise SnncError(f"{path} exists; pass --force to {what}")


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename:
    readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
