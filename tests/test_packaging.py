"""A built wheel holds every subpackage: package-dir renames them, so each is listed by
hand in pyproject.toml, and a forgotten one would break only real installs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"compiler": "snnc", "ir": "snnc/ir", "backends": "snnc/backends"}


def test_wheel_contains_every_subpackage(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("snnc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    want = set()
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                want.add(f"{package}/{init.relative_to(ROOT / folder).as_posix()}")
    missing = sorted(want - names)
    assert not missing, f"add these packages to [tool.setuptools] packages: {missing}"
    # package data: SIExp.from_table reads the fitted SI-exp tables from the package
    assert "snnc/nn/si_exp_tables.json" in names, "list it in [tool.setuptools.package-data]"


def test_ir_imports_nothing_outside_ir():
    """Layering: ir/ knows nothing of compiler/ or backends/."""
    offenders = []
    for path in (ROOT / "ir").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import snnc", "from snnc")) and not stripped.startswith(
                    ("from snnc.ir", "import snnc.ir")):
                offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert not offenders


def test_backends_import_only_ir():
    offenders = []
    for path in (ROOT / "backends").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import snnc", "from snnc")) and not stripped.startswith(
                    ("from snnc.ir", "import snnc.ir", "from snnc.backends", "import snnc.backends")):
                offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert not offenders
