"""The HTML report: ONE self-contained file (inline SVG and CSS, no script or font from a
network), with three plots — firing rate per layer, energy per layer split AC / MAC, and
SNN vs ANN energy — and the layer table.

A few lines of inline script, run on load, measure each drawn chart (``getBBox``) and
mark the page ``data-rendered``: a headless browser's DOM dump then shows that the plots
were laid out, not just written (the test does this with Chromium).
"""

from __future__ import annotations

from html import escape

from snnc.report.text import fmt_count, fmt_energy

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ac{fill:#2b8cbe}.mac{fill:#e6550d}.fr{fill:#31a354}.ann{fill:#756bb1}.theo{fill:#9ecae1}
.lbl{font-size:11px;fill:#333}.axis{stroke:#999}.key{font-size:12px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{font-weight:600}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var charts = document.querySelectorAll('svg.chart'), drawn = 0;
  charts.forEach(function (svg) {
    var bars = svg.querySelectorAll('rect.bar'), box = svg.getBBox();
    svg.setAttribute('data-bars', bars.length);
    svg.setAttribute('data-rendered-width', Math.round(box.width));
    if (bars.length && box.width > 0 && box.height > 0) drawn++;
  });
  document.body.setAttribute('data-rendered', drawn);
});
"""

ROW, LABEL_W, BAR_W, VALUE_W = 18, 260, 520, 110


def hbar_chart(chart_id: str, title: str, rows: list[tuple[str, list[tuple[float, str, str]]]],
                fmt, legend: list[tuple[str, str]] = ()) -> str:
    """Horizontal (stacked) bars: rows of ``(label, [(value, css class, tooltip), ...])``."""
    top = 24 if legend else 6
    height = top + ROW * max(len(rows), 1) + 8
    width = LABEL_W + BAR_W + VALUE_W
    peak = max((sum(v for v, _, _ in segs) for _, segs in rows), default=0.0) or 1.0
    parts = [f'<svg class="chart" id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    x = LABEL_W
    for i, (name, css) in enumerate(legend):
        parts.append(f'<rect x="{x + i * 140}" y="4" width="12" height="12" class="{css}"/>'
                     f'<text class="key" x="{x + i * 140 + 16}" y="14">{escape(name)}</text>')
    parts.append(f'<line class="axis" x1="{LABEL_W}" y1="{top}" x2="{LABEL_W}" y2="{height - 4}"/>')
    for r, (label, segs) in enumerate(rows):
        y = top + r * ROW
        shown = label if len(label) <= 40 else "…" + label[-39:]
        parts.append(f'<text class="lbl" x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(shown)}</text>')
        x = float(LABEL_W)
        for value, css, tip in segs:
            w = BAR_W * value / peak
            parts.append(f'<rect class="bar {css}" x="{x:.2f}" y="{y + 2}" width="{max(w, 0.0):.2f}" '
                         f'height="{ROW - 4}"><title>{escape(label)}: {escape(tip)}</title></rect>')
            x += w
        total = sum(v for v, _, _ in segs)
        parts.append(f'<text class="lbl" x="{x + 4:.2f}" y="{y + 13}">{escape(fmt(total))}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(report: dict) -> str:
    tot, model = report["total"], report["energy_model"]
    spiking = report["neurons"]
    if spiking:
        fr_rows = [(n["name"], [(n["firing_rate"], "fr", f"{n['firing_rate']:.4f} spikes/neuron/step")])
                   for n in spiking]
        fr_title = "Firing rate per neuron layer (spikes per neuron per step)"
    else:
        fr_rows = [(lay["name"], [(lay["firing_rate"], "fr", f"{lay['firing_rate']:.4f}")]) for lay in report["layers"]]
        fr_title = "Input firing rate per layer (nonzero fraction)"
    energy_rows = [(lay["name"], [(lay["ac_energy_pj"], "ac", f"AC {fmt_energy(lay['ac_energy_pj'])}"),
                                  (lay["mac_energy_pj"] or 0.0, "mac", f"MAC {fmt_energy(lay['mac_energy_pj'])}")])
                   for lay in report["layers"]]
    compare = [("SNN, measured", [(tot["energy_pj"] or 0.0, "ac", fmt_energy(tot["energy_pj"]))]),
               ("SNN, theoretical (Eq. 18-19)", [(tot["theoretical_energy_pj"] or 0.0, "theo",
                                                 fmt_energy(tot["theoretical_energy_pj"]))]),
               ("ANN, E_MAC x FLOPs (T=1)", [(tot["ann_energy_pj"] or 0.0, "ann", fmt_energy(tot["ann_energy_pj"]))])]
    ratio = tot["energy_ratio"]
    steps = "none (no time axis)" if report["timesteps"] is None else report["timesteps"]
    facts = [("model", report["model"]), ("samples", report["samples"]), ("time steps", steps),
             ("numerics", report["numerics"]), ("integer inputs as", report["integer_as"]),
             ("energy model", f"{model['name']}: E_AC {model['e_ac_pj']} pJ, E_MAC "
                              f"{model['e_mac_pj'] if model['e_mac_pj'] is not None else 'none'} pJ"),
             ("source", model["source"]),
             ("operations", f"{fmt_count(tot['acs'])} ACs, {fmt_count(tot['macs'])} MACs per sample"),
             ("energy", f"{fmt_energy(tot['energy_pj'])} measured, {fmt_energy(tot['theoretical_energy_pj'])} "
                        "theoretical, per sample"),
             ("ANN equivalent", f"{fmt_count(tot['flops'])} FLOPs, {fmt_energy(tot['ann_energy_pj'])}"),
             ("SNN / ANN energy", "unknown" if ratio is None else f"{ratio:.4f}")]
    extra = report.get("ecmt_overhead")
    if extra:      # ECMT: the ratio above leaves expectation compensation out (as the paper does)
        full = extra["full_energy_ratio"]
        facts[-1] = ("SNN / ANN energy, ECMT's (synaptic layers and matmuls only)", facts[-1][1])
        facts.append(("SNN / ANN energy, full count (+ expectation compensation as MACs)",
                      "unknown" if full is None else f"{full:.4f} (+{fmt_count(extra['flops'])} FLOPs"
                      + (f", +{fmt_count(extra['sit_acs'])} ACs and {fmt_count(extra['sit_macs'])} MACs of "
                         "SIT's Spiking-Softmax" if extra.get("sit_acs") or extra.get("sit_macs") else "") + ")"))
    table = ["<table><tr><th>layer</th><th>op</th><th>input</th><th>charged as</th><th>firing rate</th>"
             "<th>FLOPs</th><th>ACs</th><th>MACs</th><th>energy</th><th>theoretical</th></tr>"]
    for lay in report["layers"]:
        table.append(f"<tr><td>{escape(lay['name'])}</td><td>{escape(lay['op'])}</td>"
                     f"<td>{escape(lay['input_kind'])}</td><td>{escape(lay['charged_as'])}</td>"
                     f"<td class=n>{lay['firing_rate']:.4f}</td><td class=n>{fmt_count(lay['flops'])}</td>"
                     f"<td class=n>{fmt_count(lay['acs'])}</td><td class=n>{fmt_count(lay['macs'])}</td>"
                     f"<td class=n>{fmt_energy(lay['energy_pj'])}</td>"
                     f"<td class=n>{fmt_energy(lay['theoretical_energy_pj'])}</td></tr>")
    table.append("</table>")
    body = [
        f"<h1>snnc energy report: {escape(str(report['model']))}</h1>",
        "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts) + "</dl>",
        f"<h2>{escape(fr_title)}</h2>", hbar_chart("chart-firing-rate", fr_title, fr_rows, lambda v: f"{v:.3f}"),
        "<h2>Energy per layer, split AC / MAC (per sample)</h2>",
        hbar_chart("chart-energy", "Energy per layer, AC and MAC", energy_rows, fmt_energy,
                    legend=[("AC (spike-driven)", "ac"), ("MAC (multiply)", "mac")]),
        "<h2>SNN vs ANN energy (per sample)</h2>",
        hbar_chart("chart-snn-ann", "SNN vs ANN energy", compare, fmt_energy),
        "<h2>Layers</h2>", "\n".join(table),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>snnc report: {escape(str(report['model']))}</title><style>{_CSS}</style></head>\n"
            f"<body>\n" + "\n".join(body) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")
