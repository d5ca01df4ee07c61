"""The energy / op-count report: built from a simulation, rendered as a table, JSON, CSV
or one self-contained HTML page.

    from snnc.report import build_report, render
    text = render(build_report(graph, sim_result, load_model("45nm")), "html")
"""

from __future__ import annotations

from snnc.ir.errors import SnncError
from snnc.report.build import build_report
from snnc.report.html import render_html
from snnc.report.text import render_csv, render_json, render_table

FORMATS = {"table": render_table, "json": render_json, "csv": render_csv, "html": render_html}


def render(report: dict, fmt: str = "table") -> str:
    """The report as text in ``fmt`` (table, json, csv, html)."""
    if fmt not in FORMATS:
        raise SnncError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt](report)


__all__ = ["FORMATS", "build_report", "render", "render_csv", "render_html", "render_json", "render_table"]
