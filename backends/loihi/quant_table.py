"""The quantisation table of a Loihi program: one line per layer put on chip
(its scale, what limited it, the weight, threshold, decay and bias errors, notes), then
every node left on the host with the reason. The quantiser keeps the data in
``q.meta["loihi"]`` (:data:`snnc.ir.ops.loihi.PROGRAM_META`); ``snnc compile`` writes these
lines into ``report.json`` (the energy/op report) under ``quantisation``.
"""

from __future__ import annotations

from snnc.ir.graph import Graph
from snnc.ir.ops.loihi import PROGRAM_META


def table_lines(graph: Graph) -> list[str]:
    """The quantisation table of a quantised graph, one layer per line."""
    meta = graph.meta.get(PROGRAM_META)
    if not meta:
        return ["(not a quantised graph)"]
    lines = [f"{'layer':<28} {'input':<10} {'scale':>9} {'limit':<16} {'w err':>7} {'vth':>6} {'dv':>5} "
             f"{'decay err':>9} {'bias err':>8}"]
    for r in meta["layers"]:
        lines.append(f"{r['layer']:<28} {r['input']:<10} {r['scale']:>9.3g} {r['limited_by']:<16} "
                     f"{r['weight_error']:>7.2%} {str(r.get('vth', '-')):>6} {str(r.get('dv', '-')):>5} "
                     f"{r.get('decay_error', 0.0):>9.2e} {r.get('bias_error', 0.0):>8.2g}")
        lines += [f"  note: {n}" for n in r.get("notes", [])]
    lines += [f"host: {h['node']}: {h['reason']}" for h in meta["host"]]
    for r in meta.get("lags", []):
        lags = ", ".join(f"{v}@{d}" for v, d in r["lags"].items())
        did = (", ".join(f"{v} delayed {k}" for v, k in r["delayed"].items()) if r["reason"] is None
               else f"not aligned: {r['reason']}")
        lines.append(f"lags: {r['node']} ({r['op']}; {lags}): {did}")
    return lines
