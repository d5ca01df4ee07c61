"""The evaluation table (ECMT Tables 1–2's shape: one column per T), as text, CSV or HTML.

Energies are per sample, in µJ in the text and HTML tables; every table says which way
the energy was counted (``synaptic``: ECMT's, synaptic layers and matmuls only; ``full``:
plus neuron updates and spikes as the energy model prices them).
"""

from __future__ import annotations

import csv
import html
import io

from snnc.conversion.evaluate import Evaluation

_ROWS = [
    ("accuracy (%)", "accuracy", lambda v: f"{100 * v:.2f}"),
    ("agreement with ANN (%)", "agreement", lambda v: f"{100 * v:.2f}"),
    ("cosine to ANN", "cosine", lambda v: f"{v:.4f}"),
    ("max |SNN - ANN|", "max_error", lambda v: f"{v:.4g}"),
    ("firing rate", "firing_rate", lambda v: f"{v:.4f}"),
    ("energy, synaptic (uJ)", "energy_synaptic_pj", lambda v: f"{v / 1e6:.4g}"),
    ("energy ratio, synaptic", "ratio_synaptic", lambda v: f"{v:.3f}"),
    ("energy, full (uJ)", "energy_full_pj", lambda v: f"{v / 1e6:.4g}"),
    ("energy ratio, full", "ratio_full", lambda v: f"{v:.3f}"),
]


def _ann_cell(ev: Evaluation, attr: str) -> str:
    if attr == "accuracy" and ev.ann_accuracy is not None:
        return f"{100 * ev.ann_accuracy:.2f}"
    if attr in ("energy_synaptic_pj", "energy_full_pj") and ev.ann_energy_pj is not None:
        return f"{ev.ann_energy_pj / 1e6:.4g}"
    return "-"


def _cells(ev: Evaluation) -> list[list[str]]:
    rows = []
    for label, attr, fmt in _ROWS:
        values = [getattr(r, attr) for r in ev.rows]
        if all(v is None for v in values):
            continue
        rows.append([label, _ann_cell(ev, attr)] + ["-" if v is None else fmt(v) for v in values])
    return rows


def header(ev: Evaluation) -> list[str]:
    return ["", "ANN"] + [f"T={r.T}" for r in ev.rows]


def text(ev: Evaluation, title: str = "") -> str:
    rows = [header(ev)] + _cells(ev)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title] if title else []
    lines.append(f"{ev.samples} samples; ANN {ev.ann_macs:,} MACs/sample; energy model {ev.energy_model} "
                 "(synaptic: ECMT's count, synaptic layers and matmuls; full: plus neurons and spikes)")
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def to_csv(ev: Evaluation) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["T", "accuracy", "agreement", "cosine", "max_error", "firing_rate", "energy_synaptic_pj",
                "ratio_synaptic", "energy_full_pj", "ratio_full"])
    for r in ev.rows:
        w.writerow([r.T, r.accuracy, r.agreement, r.cosine, r.max_error, r.firing_rate, r.energy_synaptic_pj,
                    r.ratio_synaptic, r.energy_full_pj, r.ratio_full])
    return buf.getvalue()


def _plot(title: str, xs: list[int], series: list[tuple[str, list, str]], ymax: float | None = None) -> str:
    """An inline SVG line plot (no scripts, no external files)."""
    w, h, pad = 360, 200, 36
    ys = [v for _, vals, _ in series for v in vals if v is not None]
    top = ymax if ymax is not None else (max(ys) * 1.1 if ys else 1.0) or 1.0
    span = max(xs[-1] - xs[0], 1)

    def pt(x, y):
        return f"{pad + (x - xs[0]) / span * (w - 2 * pad):.1f},{h - pad - y / top * (h - 2 * pad):.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
             f'aria-label="{html.escape(title)}"><text x="{w / 2}" y="14" text-anchor="middle">{html.escape(title)}</text>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#888"/>',
             f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end" font-size="10">{top:.3g}</text>']
    for x in xs:
        parts.append(f'<text x="{pt(x, 0).split(",")[0]}" y="{h - pad + 14}" text-anchor="middle" font-size="10">{x}</text>')
    for name, vals, color in series:
        pts = " ".join(pt(x, v) for x, v in zip(xs, vals) if v is not None)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"><title>{html.escape(name)}</title></polyline>')
    return "".join(parts) + "</svg>"


def to_html(ev: Evaluation, title: str = "snnc evaluate", target: dict | None = None) -> str:
    """The page; ``target`` (``--target-agreement``'s dict) adds :func:`target_html`."""
    rows = [header(ev)] + _cells(ev)
    table = "".join("<tr>" + "".join((f"<th>{html.escape(c)}</th>" if i == 0 or r == 0 else f"<td>{html.escape(c)}</td>")
                                     for i, c in enumerate(row)) + "</tr>" for r, row in enumerate(rows))
    xs = [r.T for r in ev.rows]
    acc = [("agreement", [r.agreement for r in ev.rows], "#1f77b4")]
    if ev.ann_accuracy is not None:
        acc.insert(0, ("accuracy", [r.accuracy for r in ev.rows], "#2ca02c"))
    energy = [("synaptic", [r.ratio_synaptic for r in ev.rows], "#d62728"),
              ("full", [r.ratio_full for r in ev.rows], "#9467bd")]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{ev.samples} samples; energy model {html.escape(ev.energy_model)}; "
            "synaptic = ECMT's count (synaptic layers and matmuls), full = plus neurons and spikes.</p>"
            f"<table>{table}</table>"
            f"<figure>{_plot('accuracy / agreement vs T', xs, acc, 1.0)}</figure>"
            f"<figure>{_plot('energy ratio SNN/ANN vs T', xs, energy)}</figure>"
            + (target_html(target) if target is not None else "") + "</body></html>")


# the --target-agreement section: rendered from the dict `--format json` prints under
# "target" (snnc.conversion.target.TargetResult.to_dict), so every format says the same
_TARGET_FIELDS = ["agreement", "accuracy", "energy_synaptic_pj", "ratio_synaptic", "energy_full_pj", "ratio_full",
                  "firing_rate"]


def _target_stages(target: dict) -> list[tuple[str, dict, float | None]]:
    """(stage, figures, payload bits) for ``before`` (the file's levels at T) and, when the
    levels were searched, ``after``."""
    return [(stage, target[stage], target.get(f"payload_bits_{stage}"))
            for stage in ("before", "after") if stage in target]


def target_csv(target: dict) -> str:
    """Three more CSV blocks after the table, each after a blank line and with its own
    header: the target (``target_agreement,measure,T``), the figures at T per stage, the
    levels per layer (``--thresholds`` keys). Numbers are written exactly (``repr``)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerows([[], ["target_agreement", "measure", "T"], [target["agreement"], target["measure"], target["T"]],
                 [], ["stage"] + _TARGET_FIELDS + ["payload_bits"]])
    for stage, row, bits in _target_stages(target):
        w.writerow([stage] + [row[k] for k in _TARGET_FIELDS] + [bits])
    w.writerows([[], ["layer", "levels_start", "levels"]])
    start = target.get("levels_start", target["levels"])
    for layer, n in target["levels"].items():
        w.writerow([layer, start[layer], n])
    return buf.getvalue()


def _td(value, fmt) -> str:
    """A cell showing ``fmt(value)``, its exact value in ``data-value`` (for scripts)."""
    if value is None:
        return "<td>-</td>"
    exact = value if isinstance(value, str) else str(value) if isinstance(value, int) else repr(float(value))
    return f'<td data-value="{html.escape(exact)}">{html.escape(fmt(value))}</td>'


def target_html(target: dict) -> str:
    """The HTML section (``<section id="target">``): the target and T, a table of the
    figures at T per stage, a table of levels per layer."""
    fmts = {"agreement": lambda v: f"{v:.4f}", "accuracy": lambda v: f"{100 * v:.2f}%",
            "energy_synaptic_pj": lambda v: f"{v / 1e6:.4g} uJ", "ratio_synaptic": lambda v: f"{v:.4f}",
            "energy_full_pj": lambda v: f"{v / 1e6:.4g} uJ", "ratio_full": lambda v: f"{v:.4f}",
            "firing_rate": lambda v: f"{v:.4f}"}
    head = "".join(f"<th>{k}</th>" for k in ["stage"] + _TARGET_FIELDS + ["payload_bits"])
    stages = "".join(f"<tr><th>{stage}</th>" + "".join(_td(row[k], fmts[k]) for k in _TARGET_FIELDS)
                     + _td(bits, lambda v: f"{v:.4g}") + "</tr>" for stage, row, bits in _target_stages(target))
    start = target.get("levels_start", target["levels"])
    levels = "".join(f"<tr><th>{html.escape(layer)}</th>{_td(start[layer], str)}{_td(n, str)}</tr>"
                     for layer, n in target["levels"].items())
    return (f'<section id="target"><h2>Target agreement</h2>'
            f'<table id="target-choice"><tr><th>target_agreement</th><th>measure</th><th>T</th></tr>'
            f'<tr>{_td(target["agreement"], lambda v: f"{v:g}")}{_td(target["measure"], str)}'
            f'{_td(target["T"], str)}</tr></table>'
            f'<table id="target-figures"><tr>{head}</tr>{stages}</table>'
            f'<table id="target-levels"><tr><th>layer</th><th>levels_start</th><th>levels</th></tr>{levels}</table>'
            "</section>")
