"""The artifact manifest: what the folder holds, and the check that it still holds just that.

``manifest.json`` names the format (``snnc-loihi-artifact``), its version, the snnc that
wrote it, and ``files``: every other file of the folder with its size in bytes and its
SHA-256. ``roles`` says which file is the program, the weights, the mapping...

:func:`verify` is what ``snnc run`` does before it parses anything: the manifest must be a
regular file of bounded size, of this format and version; every listed name must be a
plain name inside the folder (no absolute path, no ``..``, no subfolder), opened without
following symlinks, a regular file of the listed size and hash. Anything else is refused
by name, so a manifest can neither point snnc at ``/etc/passwd`` or ``/dev/zero`` nor
run a program that is not the one snnc compiled.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from pathlib import Path

from snnc.ir.errors import SnncError

FORMAT = "snnc-loihi-artifact"
VERSION = 2
MANIFEST = "manifest.json"
MANIFEST_MAX = 4 << 20            # bytes: a manifest lists files, it never holds data
FILES_MAX = 64
REQUIRED = ("program", "weights", "mapping")
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def describe_files(folder: Path, names: list[str]) -> dict:
    """``{name: {"size", "sha256"}}`` of the files just written into ``folder``."""
    return {n: {"size": (folder / n).stat().st_size, "sha256": sha256_file(folder / n)} for n in sorted(names)}


def plain_name(name) -> bool:
    return isinstance(name, str) and bool(_PLAIN.match(name)) and name not in (".", "..")


def _open(dfd: int, name: str, where: str) -> tuple[int, int]:
    """(fd, size) of regular file ``name`` in the folder ``dfd``; symlinks, FIFOs and
    devices are refused without being read (O_NOFOLLOW | O_NONBLOCK, then fstat)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
    except FileNotFoundError:
        raise SnncError(f"{where}: missing; the artifact is incomplete: recompile it") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SnncError(f"{where} is a symbolic link; an artifact holds only regular files: "
                            "recompile it") from None
        raise SnncError(f"{where}: cannot open ({err.strerror}); recompile the artifact") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise SnncError(f"{where} is not a regular file; an artifact holds only regular files: recompile it")
    return fd, st.st_size


def _read(fd: int, size: int) -> bytes:
    with os.fdopen(fd, "rb", closefd=True) as f:
        return f.read(size + 1)


def read_manifest(dfd: int, folder: Path) -> dict:
    """The parsed manifest of an open artifact folder, format and version checked."""
    where = folder / MANIFEST
    try:
        fd, size = _open(dfd, MANIFEST, str(where))
    except SnncError as err:
        if "missing" in str(err):
            raise SnncError(f"{folder}: not an snnc artifact (no {MANIFEST}); make one with "
                            f"snnc compile -o {folder}") from None
        raise
    if size > MANIFEST_MAX:
        os.close(fd)
        raise SnncError(f"{where}: {size} bytes; a manifest is at most {MANIFEST_MAX}: not an snnc artifact")
    try:
        manifest = json.loads(_read(fd, size))
    except (ValueError, RecursionError) as err:
        raise SnncError(f"{where}: not JSON ({str(err)[:80]}); not an snnc artifact") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise SnncError(f"{folder}: not an snnc Loihi artifact (format {str(fmt)[:40]!r}, expected {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise SnncError(f"{folder}: artifact version {str(manifest.get('version'))[:20]} is not supported "
                        f"(this snnc reads {VERSION}); recompile it with snnc compile")
    return manifest


def verify(folder: str | os.PathLike) -> tuple[dict, dict[str, object]]:
    """(manifest, ``{role: contents}``) of a verified artifact: every listed file checked
    (name, type, size, SHA-256) before any is parsed. The weights come back as a
    read-only map, the other files as bytes."""
    from snnc.deploy.weights import map_file

    folder = Path(folder)
    if not folder.is_dir():
        raise SnncError(f"{folder}: no such artifact folder (make one with snnc compile -o {folder})")
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        manifest = read_manifest(dfd, folder)
        files, roles = manifest.get("files"), manifest.get("roles")
        if not isinstance(files, dict) or not isinstance(roles, dict) or len(files) > FILES_MAX:
            raise SnncError(f"{folder}/{MANIFEST}: 'files' and 'roles' must be tables (at most {FILES_MAX} "
                            "files); the manifest was altered: recompile the artifact")
        for name in list(files) + list(roles.values()):
            if not plain_name(name):
                raise SnncError(f"{folder}/{MANIFEST}: file {str(name)[:200]!r} is not a plain name inside the "
                                "artifact (absolute paths, '..' and subfolders are refused); the manifest was "
                                "altered: recompile the artifact")
        for role in REQUIRED:
            if role not in roles:
                raise SnncError(f"{folder}/{MANIFEST}: no {role} file named in 'roles'; recompile the artifact")
        for role, name in roles.items():
            if name not in files:
                raise SnncError(f"{folder}/{MANIFEST}: the {str(role)[:40]} file {name} is not listed in 'files' "
                                "(no size, no checksum); recompile the artifact")
        contents = {}
        for name, entry in files.items():
            contents[name] = _check(dfd, folder, name, entry, mapped=name == roles["weights"], map_file=map_file)
        return manifest, {role: contents[name] for role, name in roles.items()}
    finally:
        os.close(dfd)


def _check(dfd: int, folder: Path, name: str, entry, *, mapped: bool, map_file):
    where = f"{folder}/{name}"
    try:
        size, digest = int(entry["size"]), str(entry["sha256"])
    except (KeyError, TypeError, ValueError):
        raise SnncError(f"{folder}/{MANIFEST}: the entry of {name} has no size/sha256; recompile the artifact") from None
    fd, actual = _open(dfd, name, where)
    if actual != size:
        os.close(fd)
        raise SnncError(f"{where}: {actual} bytes, the manifest says {size}; the artifact was changed after "
                        "snnc compile wrote it: recompile it")
    if mapped:
        try:
            data = map_file(fd, size)
        finally:
            os.close(fd)
    else:
        data = _read(fd, size)
        if len(data) != size:
            raise SnncError(f"{where}: changed while being read; recompile the artifact")
    if hashlib.sha256(data).hexdigest() != digest:
        raise SnncError(f"{where}: SHA-256 differs from the manifest's; the artifact was changed after "
                        "snnc compile wrote it: recompile it")
    return data


def snnc_wrote(folder: Path) -> str | None:
    """None when ``folder`` is an artifact snnc wrote and holds nothing else (so
    ``--force`` may replace it); else the reason it is not. Reads only its manifest."""
    folder = Path(folder)
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as err:
        return f"cannot open it: {err.strerror}"
    try:
        fd, size = _open(dfd, MANIFEST, str(folder / MANIFEST))
        if size > MANIFEST_MAX:
            os.close(fd)
            return f"its {MANIFEST} is too large to be snnc's"
        manifest = json.loads(_read(fd, size))
    except SnncError:
        return f"no {MANIFEST} of snnc's in it"
    except (ValueError, RecursionError):
        return f"its {MANIFEST} is not JSON"
    finally:
        os.close(dfd)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return f"its {MANIFEST} is not an snnc artifact's"
    files = manifest.get("files", {})
    try:
        listed = set(files if manifest.get("version") == VERSION else files.values())
    except (TypeError, AttributeError):
        listed = set()
    others = sorted(set(os.listdir(folder)) - listed - {MANIFEST})
    if others:
        return f"it holds {', '.join(others[:3])}{'...' if len(others) > 3 else ''}, which its manifest does not list"
    return None
