"""``report.html`` of a deployment: the energy report's page plus the mapping, the host
partition and the timing model (inline SVG, one self-contained file)."""

from __future__ import annotations

from html import escape

from snnc.report.html import _CSS, _SCRIPT, hbar_chart, render_html
from snnc.report.text import fmt_count


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def deployment_sections(report: dict) -> str:
    d = report["deployment"]
    util = d["utilisation"]
    facts = [("target", d["target"]["name"]), ("cores", d["cores"]), ("chips", d["chips"]),
             ("check", d["check"]["summary"]), ("inputs", d["inputs"]),
             ("host partition", f"{len(d['host'])} ops, {fmt_count(d['host_macs_per_sample'])} MACs per sample")]
    if d["timing"]:
        t = d["timing"]
        facts += [("latency (model)", f"{t['latency_s'] * 1e6:.1f} us per sample at "
                                      f"{t['clock_hz'] / 1e6:.0f} MHz nominal"),
                  ("throughput (model)", f"{t['throughput_samples_per_s']:.1f} samples/s")]
    rows = [(k.replace("_", " "), [(v["max"] / max(v["limit"], 1), "ac", f"max {v['max']:,} of {v['limit']:,}")])
            for k, v in util.items()]
    parts = [f"<h2>Deployment on {escape(d['target']['name'])}</h2>",
             "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts) + "</dl>",
             "<h2>Busiest core, per limit (fraction of the target table)</h2>",
             hbar_chart("chart-core-load", "Busiest core per limit", rows, lambda v: f"{v:.0%}")]
    if d["timing"]:
        cycles = d["timing"]["core_cycles_total"]
        top = sorted(range(len(cycles)), key=lambda i: -cycles[i])[:24]
        parts += ["<h2>Cycles per core, all steps (model; busiest 24)</h2>",
                  hbar_chart("chart-core-cycles", "Cycles per core", [(f"core {i}", [(cycles[i], "mac",
                             f"{cycles[i]:,.0f} cycles")]) for i in top], lambda v: f"{v:,.0f}")]
    parts += ["<h2>Layers on cores</h2>",
              _table(["layer", "neuron", "tiles", "cores"],
                     [[x["layer"], x["neuron"] or "(read back)", x["tiles"], _span(x["cores"])] for x in d["layers"]]),
              "<h2>Host partition</h2>",
              _table(["node", "op", "MACs per evaluation", "runs", "why on the host"],
                     [[h["node"], h["op"], fmt_count(h["macs_per_step"]), "every step" if h["steps"] == "T"
                       else "once", h["reason"]] for h in d["host"]]),
              "<h2>Host nodes inside the Lava run (per step and sample)</h2>",
              _table(["node", "op", "from the chip", "to the chip", "why on the host"],
                     [[h["node"], h["op"], f"{h['in_values']} values, {h['in_bits']} bits",
                       f"{h['out_values']} values, {h['out_bits']} bits", h["reason"]]
                      for h in (d.get("lava_run") or {}).get("host_in_run", [])]),
              "<h2>Quantisation</h2>", "<pre>" + escape("\n".join(d["quantisation"])) + "</pre>"]
    return "\n".join(parts)


def _span(cores: list[int]) -> str:
    if not cores:
        return "-"
    return str(cores[0]) if len(cores) == 1 else f"{cores[0]}-{cores[-1]} ({len(cores)})"


def render_deployment_html(report: dict) -> str:
    sections = deployment_sections(report)
    if "total" in report:
        page = render_html(report)
        return page.replace("\n<script>", "\n" + sections + "\n<script>", 1)
    name = escape(str(report["deployment"]["target"]["name"]))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>snnc deployment: {name}</title><style>{_CSS}</style></head>\n<body>\n"
            f"<h1>snnc deployment</h1>\n{sections}\n<script>{_SCRIPT}</script>\n</body></html>\n")
