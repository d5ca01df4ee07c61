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


def snnc_imports(folder: str) -> list[tuple[str, str]]:
    """(file, imported snnc module) for every snnc import under ``folder``, wherever it
    sits (top level or inside a function) and however it is written (``from snnc.x
    import y``, ``import snnc.x``, ``importlib.import_module("snnc.x")``)."""
    import ast

    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), where)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("snnc."):
                names = [node.value] if node.value.replace(".", "").replace("_", "").isalnum() else []
            else:
                continue
            found += [(where, n) for n in names if n == "snnc" or n.startswith("snnc.")]
    return found


def _outside(imports, allowed: tuple[str, ...]) -> list[str]:
    return [f"{f}: {m}" for f, m in imports if not any(m == a or m.startswith(a + ".") for a in allowed)]


def test_layering_scan_sees_what_it_must():
    """The scan itself: it finds imports inside functions (the lazy ones) and by name."""
    imports = snnc_imports("compiler")
    assert ("compiler/cli/simulate.py", "snnc.backends.sim") in imports      # inside run_simulation
    assert ("compiler/passes/loihi_quantize.py", "snnc.backends.loihi.quantize") in imports


def test_ir_imports_nothing_outside_ir():
    """Layering: ir/ knows nothing of compiler/ or backends/."""
    assert not _outside(snnc_imports("ir"), ("snnc.ir",))


def test_backends_import_only_ir():
    assert not _outside(snnc_imports("backends"), ("snnc.ir", "snnc.backends"))


def test_simulator_knows_nothing_of_loihi():
    """The simulator runs whatever graph it is given; Loihi numerics come from the
    compiler's loihi-quantize pass, so backends/sim never imports backends/loihi."""
    assert not _outside(snnc_imports("backends/sim"), ("snnc.ir", "snnc.backends.sim"))
