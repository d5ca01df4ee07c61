"""Shared by the artifact and output-safety tests: a tiny spiking net, the CLI run as a
subprocess (``python -m snnc`` under an audit hook that logs every file it opens), hashes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from snnc.ir.serialize import to_json

from loihi_nets import _Net

# runs ``python -m snnc ARGS`` after installing an audit hook (PEP 578) that records the
# path of every open(), os.open() and mmap: what the process really touched, not a mock
_AUDITED = r"""
import json, os, runpy, sys
log = sys.argv[1]
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.fsdecode(args[0]))
sys.addaudithook(hook)
sys.argv = ["snnc"] + sys.argv[2:]
code = 0
try:
    runpy.run_module("snnc", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
finally:
    seen = list(opened)
    with open(log, "w") as f:
        json.dump(seen, f)
sys.exit(code)
"""


def tiny_net():
    """conv 2->4 (3x3) + LIF, flatten, dense 256->10 + LIF: one core, with a netx file."""
    net = _Net(3, "tiny", (2, 8, 8)).conv(4, 3, pad=1).lif(tau=2.0, theta=0.8, decay_input=1)
    net = net.reshape([4 * 8 * 8]).linear(10).lif(tau=2.0, theta=0.6, decay_input=1)
    return net.done()


def write_net(folder: Path) -> Path:
    path = Path(folder) / "net.json"
    path.write_text(to_json(tiny_net()))
    return path


def spikes_input(path: Path, steps: int = 3) -> np.ndarray:
    x = (np.random.default_rng(1).random((steps, 1, 2, 8, 8)) < 0.4).astype(np.float32)
    np.save(path, x)
    return x


def snnc(*args, cwd=None, timeout=60, umask=None) -> subprocess.CompletedProcess:
    """``python -m snnc ARGS``."""
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, preexec_fn=pre)


def snnc_audited(log: Path, *args, timeout=60) -> tuple[subprocess.CompletedProcess, list[str]]:
    """``python -m snnc ARGS`` with every opened path logged: (the run, the paths)."""
    done = subprocess.run([sys.executable, "-c", _AUDITED, str(log), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    return done, json.loads(Path(log).read_text())


def sha(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_state(folder: Path) -> dict:
    """Every entry under ``folder``: its type and, for files, its hash."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder)] = "dir"
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, folder)] = "link" if os.path.islink(p) else sha(p)
    return out


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The run exited 2 with exactly one ``snnc: error:`` line and no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("snnc: error: ")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    return errors[0]
