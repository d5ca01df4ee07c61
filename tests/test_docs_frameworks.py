"""docs/frameworks/*.md kept honest: every ```python block marked ``<!-- run -->`` runs as
written in a fresh folder, and every snnc op the pages name exists (ONNX dialect ops in
``snnc.onnx.dialect.FUNCTIONS``, IR ops in ``snnc.ir.registry``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import require

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "frameworks").glob("*.md"))
NEEDS = {"spikingjelly": ["spikingjelly.activation_based"], "snntorch": ["snntorch"], "norse": ["norse.torch"],
         "sinabs": ["sinabs"], "nir": ["nir", "sinabs"]}


def _blocks(page: Path) -> list[str]:
    return re.findall(r"<!-- run -->\n```python\n(.*?)```", page.read_text(), re.S)


def _cells(page: Path):
    """(header, cell) of every table column whose header starts with 'snnc op'."""
    header = None
    for line in page.read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|-: "):
            yield from (cell for h, cell in zip(header, cells) if h.startswith("snnc op"))


def test_every_page_is_linked_and_has_a_runnable_block():
    index = (ROOT / "docs" / "frameworks.md").read_text()
    assert [p.stem for p in PAGES] == sorted(NEEDS)
    for page in PAGES:
        assert f"(frameworks/{page.name})" in index, page.name
        assert len(_blocks(page)) == 1, page.name


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_runnable_blocks_run(page, tmp_path, monkeypatch):
    """In-process (one torch import for all pages), in a fresh folder: the blocks write m.onnx / m.nir."""
    for module in NEEDS[page.stem]:
        require(module)
    monkeypatch.chdir(tmp_path)
    for code in _blocks(page):
        exec(compile(code, str(page), "exec"), {"__name__": "__docs__"})


def test_named_ops_exist():
    import snnc.ir  # noqa: F401  (imports every op module, filling the registry)
    from snnc.ir.registry import REGISTRY
    from snnc.onnx.dialect import FUNCTIONS

    onnx_ops, ir_ops = set(), set()
    for page in [*PAGES, ROOT / "docs" / "frameworks.md"]:
        text = page.read_text()
        onnx_ops |= set(re.findall(r"`snnc::(\w+)`", text))
        ir_ops |= set(re.findall(r"`snnc::\w+` / `(\w+)`", text))          # ONNX / IR pairs
        for cell in _cells(page):          # the first IR name in an 'snnc op' column: `lif[...]`, `snnc::X` / `x`
            names = [n for n in re.findall(r"`([\w:]+)", cell) if "::" not in n]
            ir_ops |= set(names[:1])
    assert {"LIF", "SpikingJellyLIF", "Leaky", "Synaptic", "LIFBox", "LIFCurrent", "SinabsLIF"} <= onnx_ops
    assert {"sj_lif", "leaky", "lif_box", "linear", "conv"} <= ir_ops      # the parse found the tables
    assert onnx_ops - set(FUNCTIONS) == set()
    assert ir_ops - set(REGISTRY) == set()
