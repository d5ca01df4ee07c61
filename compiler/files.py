"""Writing output files the safe way: checked first, atomic, never over what snnc did not write.

Every command that writes goes through :func:`check_output` (before any work, so a bad
``-o`` fails in a second, not after a compile) and then :func:`atomic_write` or
:func:`temp_dir`. The rules:

- ``--force`` replaces only a regular file, or a folder that snnc wrote (the caller's
  ``owned`` test says so: an artifact's manifest lists every file in it). A folder with
  other files, a symlink, a device node or a FIFO is refused with the reason, never
  replaced: a careless ``-o ~/thesis --force`` must not delete a thesis.
- Path mistakes (a parent that is a file, a name past the file system's 255 bytes, the
  current folder, an unwritable folder) are one-line :class:`SnncError`\\ s, exit 2.
- Temporary outputs are named ``.snnc-tmp-<pid>-<name>.*`` beside the output: a killed
  run (SIGKILL) leaves them recognisable, and the next run into that folder removes
  those whose process is gone (:func:`clean_stale`). SIGTERM raises :class:`Terminated`
  (:func:`install_signal_handlers`), so the ``except BaseException`` clean-ups run.
- Outputs get the permissions the umask gives (``mkstemp``/``mkdtemp`` make 0600/0700).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from snnc.ir.errors import SnncError

TEMP_PREFIX = ".snnc-tmp-"
_TEMP_RE = re.compile(r"^\.snnc-tmp-(\d+)-")
_NAME_MAX = 255


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt so that clean-ups run."""


def install_signal_handlers():
    """Turn SIGTERM into :class:`Terminated`; returns the previous handler (None off the
    main thread, where Python cannot set one). The CLI installs it around a command."""
    def _raise(signum, frame):
        raise Terminated(signum)
    try:
        return signal.signal(signal.SIGTERM, _raise)
    except ValueError:
        return None


def restore_signal_handlers(previous) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except ValueError:
            pass


def umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def _check_names(path: Path) -> None:
    for part in path.parts:
        if len(os.fsencode(part)) > _NAME_MAX:
            raise SnncError(f"{str(path)[:60]}...: the name {part[:20]}... is {len(os.fsencode(part))} bytes long; "
                            f"file systems allow {_NAME_MAX}: choose a shorter name")


def _check_parent(path: Path) -> None:
    """The folder ``path`` goes into must be a folder (or creatable) and writable."""
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SnncError(f"{path}: {parent} is {_kind(os.lstat(parent).st_mode)}, not a folder; "
                        "choose an output inside a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SnncError(f"{path}: cannot write in {parent} (permission denied); choose a writable folder")


def check_output(path: str | os.PathLike, force: bool, *, folder: bool = False,
                 owned: Callable[[Path], str | None] | None = None) -> None:
    """Refuse, before any work, an output ``path`` that cannot or must not be written.

    ``folder``: the output is a folder (an artifact); ``owned(path)`` returns None when an
    existing folder is one snnc wrote, else the reason it is not. Removes stale temporary
    outputs of dead snnc runs beside ``path``.
    """
    path = Path(path)
    _check_names(path)
    here = Path.cwd().resolve()
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as err:        # a symlink loop
        raise SnncError(f"{path}: cannot resolve ({err}); choose another output") from None
    if resolved in (here, *here.parents):
        raise SnncError(f"{path} is the current folder or one above it; name a new {'folder' if folder else 'file'}")
    _check_parent(path)
    clean_stale(path.parent)
    if not os.path.lexists(path):
        return
    if not force:
        raise SnncError(f"{path} exists; pass --force to {'replace' if folder else 'overwrite'} it")
    kind = _kind(os.lstat(path).st_mode)
    if not folder and kind != "a regular file":
        raise SnncError(f"{path} is {kind}; --force replaces only a regular file: choose another name")
    if folder and kind == "a folder":
        reason = owned(path) if owned is not None else "snnc cannot tell that it wrote it"
        if reason:
            raise SnncError(f"{path} is a folder snnc did not write ({reason}); --force replaces only "
                            "an snnc artifact: choose another name")
    elif folder and kind != "a regular file":
        raise SnncError(f"{path} is {kind}; --force replaces only a regular file or an snnc artifact folder")


def clean_stale(folder: str | os.PathLike) -> list[str]:
    """Remove ``.snnc-tmp-<pid>-*`` entries in ``folder`` whose process no longer runs."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            continue
    if removed:
        print(f"snnc: removed {len(removed)} temporary output(s) left in {folder} by an interrupted run",
              file=sys.stderr)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                     # another user's process: not ours to clean
    except (OverflowError, ValueError):
        return False
    return True


def temp_prefix(path: Path) -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{path.name[:80]}."


def _os_error(path: Path, err: OSError) -> SnncError:
    return SnncError(f"{path}: cannot write ({err.strerror or err}); choose another output")


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename:
    readers see the old file or the new one, never half of one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    except OSError as err:
        raise _os_error(path, err) from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except OSError as err:
        _unlink(tmp)
        raise _os_error(path, err) from err
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(p) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


@contextmanager
def temp_dir(beside: Path) -> Iterator[Path]:
    """A recognisable temporary folder next to ``beside`` (mode from the umask), removed
    on any error or signal; the caller renames it into place (:func:`replace_dir`)."""
    beside = Path(beside)
    try:
        beside.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=beside.parent, prefix=temp_prefix(beside)))
        os.chmod(tmp, 0o777 & ~umask())
    except OSError as err:
        raise _os_error(beside, err) from err
    try:
        yield tmp
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _os_error(beside, err) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)      # a no-op once it was renamed into place


def replace_dir(new: Path, outdir: Path) -> None:
    """Rename folder ``new`` to ``outdir``; an existing ``outdir`` (already checked to be
    snnc's) is moved aside first and removed after, so ``outdir`` is never half-written."""
    if not os.path.lexists(outdir):
        os.replace(new, outdir)
        return
    if not outdir.is_dir() or outdir.is_symlink():
        os.unlink(outdir)
        os.replace(new, outdir)
        return
    old = Path(tempfile.mkdtemp(dir=outdir.parent, prefix=temp_prefix(outdir) + "old."))
    os.rmdir(old)
    os.replace(outdir, old)
    os.replace(new, outdir)
    shutil.rmtree(old, ignore_errors=True)
