"""docs/convert.md's four commands, run as written, in a fresh folder."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import require

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[list[str]]:
    text = (ROOT / "docs" / "convert.md").read_text()
    block = re.search(r"```\n(python examples/digits_ann.py.*?)```", text, re.S).group(1)
    return [shlex.split(line) for line in block.strip().splitlines()]


def test_tutorial_commands_run_and_reach_the_ann(tmp_path):
    require("torch")
    require("sklearn")
    commands = _commands()
    assert len(commands) == 4
    for cmd in commands:
        if cmd[0] == "python":
            cmd = [sys.executable, str(ROOT / cmd[1]), *cmd[2:]]
        else:
            cmd = [sys.executable, "-m", "snnc", *cmd[1:]]
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, (cmd, r.stderr[-2000:])
        if "evaluate" in cmd:
            table = r.stdout
        if "convert" in cmd:      # the pooled conv reads spikes again: its cost is ACs, not MACs
            assert "avgpool-into-conv=1" in r.stdout, r.stdout
    rows = {line.split("  ")[0].strip(): line.split()[-5:] for line in table.splitlines() if "  " in line}
    ann = float(table.split("accuracy (%)")[1].split()[0])
    acc = [float(v) for v in rows["accuracy (%)"]]
    assert ann > 85 and acc[-1] >= ann - 3 and acc[0] < acc[-1]
    assert (tmp_path / "tut" / "loihi" / "manifest.json").exists()
    assert (tmp_path / "tut" / "loihi" / "report.html").exists()
