"""Outputs are safe: ``--force`` replaces only a regular file or an artifact snnc wrote;
path mistakes are one line, exit 2; temporary outputs are cleaned on SIGTERM and by the
next run after a SIGKILL; permissions follow the umask. All through ``python -m snnc``."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from artifact_helpers import one_error_line, sha, snnc, tree_state, write_net


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    return write_net(tmp_path_factory.mktemp("net"))


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".snnc-tmp-"))


def test_force_never_deletes_a_users_folder(net, tmp_path):
    """The issue's reproducer: mkdir -p u/photos; echo x > u/thesis.tex; compile -o u --force."""
    (tmp_path / "u" / "photos").mkdir(parents=True)
    (tmp_path / "u" / "thesis.tex").write_text("x\n")
    before = tree_state(tmp_path / "u")
    line = one_error_line(snnc("compile", net, "-o", "u", "--force", cwd=tmp_path))
    assert "u is a folder snnc did not write" in line
    assert tree_state(tmp_path / "u") == before == {"photos": "dir", "thesis.tex": sha(tmp_path / "u" / "thesis.tex")}


def test_force_replaces_an_snnc_artifact_but_not_one_with_user_files(net, tmp_path):
    assert snnc("compile", net, "-o", tmp_path / "art", "--no-simulate").returncode == 0
    again = snnc("compile", net, "-o", tmp_path / "art", "--no-simulate", "--force")
    assert again.returncode == 0, again.stderr
    (tmp_path / "art" / "notes.txt").write_text("mine")
    before = tree_state(tmp_path / "art")
    line = one_error_line(snnc("compile", net, "-o", tmp_path / "art", "--force"))
    assert "it holds notes.txt, which its manifest does not list" in line
    assert tree_state(tmp_path / "art") == before
    assert _temps(tmp_path) == []


def test_force_refuses_fifo_symlink_folder_and_device(net, tmp_path):
    fifo, link, folder, target = tmp_path / "fifo", tmp_path / "link", tmp_path / "dir", tmp_path / "target.txt"
    os.mkfifo(fifo)
    target.write_text("keep")
    link.symlink_to(target)
    folder.mkdir()
    cases = {fifo: "is a FIFO", link: "is a symbolic link", folder: "is a folder"}
    try:
        dev = tmp_path / "null"
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        cases[dev] = "is a character device"
    except (PermissionError, OSError):
        dev = None
    for path, says in cases.items():
        line = one_error_line(snnc("show", net, "-o", path, "--force", timeout=30))
        assert says in line and "--force replaces only a regular file" in line, line
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.readlink(link) == str(target)
    assert target.read_text() == "keep" and list(folder.iterdir()) == []
    if dev is not None:
        assert stat.S_ISCHR(os.lstat(dev).st_mode)
    plain = tmp_path / "plain.txt"
    plain.write_text("old")
    assert snnc("show", net, "-o", plain, "--force").returncode == 0 and "graph tiny" in plain.read_text()


def test_output_path_mistakes_are_one_line(net, tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    long_name = "n" * 300 + ".txt"
    cases = [
        (["show", net, "-o", tmp_path / "a_file" / "out.txt"], "a_file is a regular file, not a folder"),
        (["show", net, "-o", tmp_path / "a_dir", "--force"], "a_dir is a folder; --force replaces only"),
        (["show", net, "-o", tmp_path / long_name], "is 304 bytes long; file systems allow 255"),
        (["show", net, "-o", "/proc/snnc-out.txt"], "/proc/snnc-out.txt: cannot write"),
        (["compile", net, "-o", "/proc/snnc-art"], "/proc/snnc-art: cannot write"),
        (["simulate", net, "-o", tmp_path / "a_file" / "o.npz"], "not a folder"),
    ]
    before = tree_state(tmp_path)
    for args, says in cases:
        assert says in one_error_line(snnc(*args, cwd=tmp_path)), args
    assert tree_state(tmp_path) == before


def test_compile_into_the_current_folder_is_refused(net, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    before = tree_state(tmp_path)
    line = one_error_line(snnc("compile", net, "-o", ".", "--force", cwd=tmp_path))
    assert ". is the current folder" in line and tree_state(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_read_only_parent(net, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert "permission denied" in one_error_line(snnc("show", net, "-o", ro / "out.txt"))
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("mask", [0o077, 0o002])
def test_permissions_follow_the_umask(net, tmp_path, mask):
    assert snnc("show", net, "-o", tmp_path / "g.txt", umask=mask).returncode == 0
    assert snnc("compile", net, "-o", tmp_path / "art", "--no-simulate", umask=mask).returncode == 0
    assert stat.S_IMODE(os.stat(tmp_path / "g.txt").st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(os.stat(tmp_path / "art").st_mode) == 0o777 & ~mask
    assert stat.S_IMODE(os.stat(tmp_path / "art" / "weights.bin").st_mode) == 0o666 & ~mask


# a child that runs ``python -m snnc ARGS`` with one function of snnc replaced by a stall:
# it prints "writing" (the temporary output exists by then) and sleeps, or kills itself
_STALL = r"""
import importlib, os, runpy, signal, sys, time
module, attr, how = sys.argv[1], sys.argv[2], sys.argv[3]
mod = importlib.import_module(module)
real = getattr(mod, attr)
def stall(*a, **k):
    print("writing", flush=True)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
    return real(*a, **k)
setattr(mod, attr, stall)
sys.argv = ["snnc"] + sys.argv[4:]
runpy.run_module("snnc", run_name="__main__", alter_sys=True)
"""

# (module, function): the artifact folder stalls while rendering its HTML page; a file
# output stalls on the final rename of atomic_write
_STALLS = {"compile": ("snnc.deploy.html", "render_deployment_html"), "show": ("os", "replace")}


def _stalled(how, command, *args, cwd):
    module, attr = _STALLS[command]
    return subprocess.Popen([sys.executable, "-c", _STALL, module, attr, how, command, *map(str, args)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("command, out", [("compile", "art"), ("show", "g.txt")])
def test_sigterm_removes_the_temporary_output(net, tmp_path, command, out):
    child = _stalled("sleep", command, net, "-o", out, cwd=tmp_path)
    assert child.stdout.readline().strip() == "writing"
    assert [t for t in _temps(tmp_path) if t.startswith(f".snnc-tmp-{child.pid}-{out}.")]   # recognisable
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 143 and "terminated" in err and "Traceback" not in err, err
    assert _temps(tmp_path) == [] and not (tmp_path / out).exists()


def test_stale_temporary_output_is_removed_by_the_next_run(net, tmp_path):
    child = _stalled("kill", "compile", net, "-o", "art", cwd=tmp_path)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    stale = _temps(tmp_path)
    assert len(stale) == 1 and stale[0].startswith(f".snnc-tmp-{child.pid}-art.")
    alive = tmp_path / f".snnc-tmp-{os.getpid()}-other.x"      # a running process's: kept
    alive.mkdir()
    done = snnc("compile", net, "-o", "art", "--no-simulate", cwd=tmp_path)
    assert done.returncode == 0 and "removed 1 temporary output" in done.stderr, done.stderr
    assert _temps(tmp_path) == [alive.name] and (tmp_path / "art" / "manifest.json").is_file()
