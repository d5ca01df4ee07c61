"""Text renderers of a report: an aligned table, JSON, and CSV."""

from __future__ import annotations

import csv
import io
import json
import math


def fmt_energy(pj) -> str:
    """pJ -> a readable unit: ``38.34 mJ``, ``512.0 nJ``; ``unknown`` for None."""
    if pj is None:
        return "unknown"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


def fmt_count(n) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}"
    return f"{n:.4g}" if n != int(n) else str(int(n))


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2, default=_jsonable)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


CSV_COLUMNS = ["name", "op", "input_kind", "charged_as", "firing_rate", "flops", "steps", "acs", "macs",
               "energy_pj", "ac_energy_pj", "mac_energy_pj", "theoretical_acs", "theoretical_macs",
               "theoretical_energy_pj"]


def render_csv(report: dict) -> str:
    """One row per layer, then a ``TOTAL`` row (its ``flops`` is the ANN's, at T = 1)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for layer in report["layers"]:
        writer.writerow({k: "" if layer.get(k) is None else layer.get(k) for k in CSV_COLUMNS})
    tot = report["total"]
    writer.writerow({"name": "TOTAL", "flops": tot["flops"], "acs": tot["acs"], "macs": tot["macs"],
                     "energy_pj": "" if tot["energy_pj"] is None else tot["energy_pj"],
                     "ac_energy_pj": tot["ac_energy_pj"],
                     "mac_energy_pj": "" if tot["mac_energy_pj"] is None else tot["mac_energy_pj"],
                     "theoretical_acs": tot["theoretical_acs"], "theoretical_macs": tot["theoretical_macs"],
                     "theoretical_energy_pj": "" if tot["theoretical_energy_pj"] is None
                     else tot["theoretical_energy_pj"]})
    return buf.getvalue()


def render_table(report: dict) -> str:
    """A compiler-style listing: one line per layer, then the totals."""
    model = report["energy_model"]
    steps = "no time axis" if report["timesteps"] is None else f"T={report['timesteps']}"
    lines = [f"{report['model']}: {report['samples']} sample(s), {steps}, "
             f"numerics {report['numerics']}, energy model {model['name']} "
             f"(E_AC {model['e_ac_pj']} pJ, E_MAC {model['e_mac_pj'] if model['e_mac_pj'] is not None else '-'} pJ), "
             f"integers as {report['integer_as']}",
             "per sample; firing rate = nonzero fraction of the layer's input", ""]
    rows = [("layer", "op", "input", "charged", "fr", "FLOPs", "ACs", "MACs", "energy", "theoretical")]
    for layer in report["layers"]:
        rows.append((layer["name"], layer["op"], layer["input_kind"], layer["charged_as"],
                     f"{layer['firing_rate']:.3f}", fmt_count(layer["flops"]),
                     fmt_count(layer["acs"]) + ("" if layer["fanout_exact"] else "~"),
                     fmt_count(layer["macs"]), fmt_energy(layer["energy_pj"]),
                     fmt_energy(layer["theoretical_energy_pj"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = {4, 5, 6, 7, 8, 9}
    for j, row in enumerate(rows):
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not all(layer["fanout_exact"] for layer in report["layers"]):
        lines.append("~ estimated: the op declares no fan-out rule, FLOPs / inputs is used per input")
    tot = report["total"]
    fr = tot["firing_rate"]
    lines += ["",
              f"neurons: {len(report['neurons'])} layers, {fmt_count(tot['spikes'])} spikes, "
              f"{fmt_count(tot['neuron_updates'])} updates, firing rate {fr:.3f}" if fr is not None
              else f"neurons: {len(report['neurons'])} layers",
              f"total:   {fmt_count(tot['acs'])} ACs, {fmt_count(tot['macs'])} MACs",
              f"energy:  measured {fmt_energy(tot['energy_pj'])}, theoretical (Spikingformer Eq. 18-19) "
              f"{fmt_energy(tot['theoretical_energy_pj'])}",
              f"ANN:     {fmt_count(tot['flops'])} FLOPs (MACs at T=1) -> {fmt_energy(tot['ann_energy_pj'])}",
              *_ecmt_lines(report),
              "ratio:   SNN / ANN energy " + (f"{tot['energy_ratio']:.4f} measured" if tot["energy_ratio"] is not None
                                              else "unknown (the model prices no MAC)")
              + (f", {tot['theoretical_energy_ratio']:.4f} theoretical"
                 if tot["theoretical_energy_ratio"] is not None else "")]
    return "\n".join(lines)


def _ecmt_lines(report: dict) -> list[str]:
    """Spiking matmuls (ECMT Theorem 2): measured ACs against Eq. 13's bound, and what the
    ratio counts."""
    lines = []
    rows = [r for r in report["layers"] if r.get("ac_bound") is not None]
    if rows:
        acs, bound = sum(r["acs"] for r in rows), sum(r["ac_bound"] for r in rows)
        lines.append(f"ECMT:    {len(rows)} spiking matmul(s): {fmt_count(acs)} ACs measured (Eq. 12 nnz "
                     f"patterns) <= {fmt_count(bound)} Eq. 13 bound; MACs by Eq. 14")
    extra = report.get("ecmt_overhead")
    if extra:
        ops = ", ".join(f"{k} {op}" for op, k in sorted(extra["ops"].items()))
        ratio = extra["full_energy_ratio"]
        lines.append(f"         the ratio below is ECMT's (synaptic layers and matmuls only); full count adds "
                     f"{fmt_count(extra['flops'])} FLOPs of expectation compensation ({ops}) as MACs"
                     + (f", SIT's Spiking-Softmax ({', '.join(f'{k} {op}' for op, k in extra['sit_ops'].items())}) "
                        f"{fmt_count(extra['sit_acs'])} ACs (SI-exp spikes) + "
                        f"{fmt_count(extra['sit_macs'])} MACs (SI-norm)" if extra.get("sit_acs") or extra.get("sit_macs")
                        else "")
                     + (f" -> {fmt_energy(extra['full_energy_pj'])}, ratio {ratio:.4f} (full)" if ratio else ""))
    return lines
