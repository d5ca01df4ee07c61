"""The command line: help, version, export, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest

import snnc
from snnc.cli import COMMANDS, main


def snnc_cli(*args, check=False):
    """Run ``python -m snnc`` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], capture_output=True,
                          text=True, check=check)


def test_version_and_help():
    assert snnc_cli("--version").stdout.strip() == f"snnc {snnc.__version__}"
    out = snnc_cli("--help").stdout
    for command in ["show", "check", "simulate", "report", "compile"]:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: snnc" in capsys.readouterr().out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``snnc export`` run as a user would: spikingformer-tiny to a new file, again (refused),
    then spikformer-tiny over it with --force. One file, two exports (about 10 s each): the
    overwrite test asserts on the runs, the show test reads the spikformer it left."""
    out = tmp_path_factory.mktemp("export") / "tiny.onnx"
    first = snnc_cli("export", "spikingformer-tiny", "-o", out)
    written = onnx.load(out) if first.returncode == 0 else None
    again = snnc_cli("export", "spikingformer-tiny", "-o", out)
    unchanged = onnx.load(out) == written if written is not None else None
    forced = snnc_cli("export", "spikformer-tiny", "-o", out, "--force")
    return out, first, written, again, unchanged, forced


def test_export_writes_a_checked_model_and_refuses_to_overwrite(exported):
    out, done, written, again, unchanged, forced = exported
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout and "snnc: 11 LIF" in done.stdout
    onnx.checker.check_model(written, full_check=True)
    assert again.returncode == 2
    assert again.stderr.strip() == f"snnc: error: {out} exists; pass --force to overwrite it"
    assert unchanged                                      # the refused run left the file alone
    assert forced.returncode == 0, forced.stderr
    # --force really overwrote it: the spikformer's Adds are not the spikingformer's
    assert onnx.load(out).graph.node != written.graph.node


def test_unknown_model_is_one_line_exit_2(tmp_path):
    done = snnc_cli("export", "resnet-50", "-o", tmp_path / "m.onnx")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "unknown model 'resnet-50'" in done.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_show_prints_the_ir_and_json_loads_back(exported, tmp_path):
    from snnc.ir.serialize import from_json
    from snnc.onnx.importer import import_onnx

    model, forced = exported[0], exported[-1]       # spikformer-tiny, written by `snnc export --force`
    assert forced.returncode == 0, forced.stderr
    text = snnc_cli("show", model, check=True).stdout
    assert text.startswith("graph tiny(%x: analog[3,16,16]) {")
    assert "%block.0.attn.attn_lif = lif[v_threshold=0.5](" in text
    assert "%block.0.add = add(%patch_embed.reshape_37, %block.0.attn.proj_lif) : count(3)[32,16]" in text
    out = tmp_path / "tiny.json"
    snnc_cli("show", model, "--json", "-o", out, check=True)
    assert from_json(out.read_text()).same_as(import_onnx(model))
    assert snnc_cli("show", model, "--json", "-o", out).returncode == 2      # exists: needs --force
    assert "onnx: /block.0/attn/q_conv/Conv" in snnc_cli("show", model, "--source", check=True).stdout
