"""Hostile input never gets a traceback (issue 17): each user mistake is one
``snnc: error:`` line naming the cause, exit code 2; a bug in snnc is one
``snnc: internal error:`` line, exit code 70, with the traceback behind ``--debug``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from snnc import cli


def _crash(*_args, **_kwargs):
    raise RuntimeError("boom")


def test_a_bug_is_one_internal_error_line_and_exit_70(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("snnc.cli.show.load_graph", _crash)
    assert cli.main(["show", str(tmp_path / "m.onnx")]) == cli.INTERNAL_ERROR == 70
    err = capsys.readouterr().err
    assert err.splitlines() == ["snnc: internal error: RuntimeError: boom "
                                "(please report this bug; run with --debug for the traceback)"]


def test_debug_prints_the_traceback(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("snnc.cli.show.load_graph", _crash)
    assert cli.main(["--debug", "show", str(tmp_path / "m.onnx")]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "snnc: internal error: RuntimeError: boom" in err
