"""The compile summary a person takes in at a glance (what ``snnc compile`` prints)."""

from __future__ import annotations

from collections import Counter

from snnc.report.text import fmt_count, fmt_energy


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _changes(passes: list[str]) -> list[str]:
    """``fold-bn: folded=11 left=0 (…)`` -> ``fold-bn folded 11``, zero counts left out."""
    out = []
    for line in passes:
        name, _, rest = line.partition(": ")
        counts = [kv.split("=") for kv in rest.split(" (")[0].split() if "=" in kv]
        done = [f"{k.replace('_', ' ')} {v}" for k, v in counts if v != "0"]
        if done:
            out.append(f"{name} {', '.join(done)}")
    return out


def summary(c, outdir=None, files=()) -> str:
    d = c.report["deployment"]
    util = d["utilisation"]
    busiest = ", ".join(f"{v['max'] / max(v['limit'], 1):.0%} {k.replace('_', ' ')}" for k, v in util.items())
    ops = Counter(h["op"] for h in d["host"])
    host_ops = ", ".join(f"{n} {op}" for op, n in ops.most_common(5)) + (" …" if len(ops) > 5 else "")
    lines = [f"snnc compile {c.source.name} -> {outdir or '(not written)'} for {d['target']['name']}",
             f"  check     {d['check']['summary'].split(': ', 1)[-1]}",
             "  passes    " + (", ".join(_changes(d["passes"])) or "nothing changed"),
             f"  chip      {_n(len(d['layers']), 'layer')} on {_n(d['cores'], 'core')}, {_n(d['chips'], 'chip')}; "
             f"busiest core: {busiest}",
             f"  host      {_n(len(d['host']), 'op')} ({host_ops or 'none'}), "
             f"{fmt_count(d['host_macs_per_sample'])} MACs per sample"]
    lava = d.get("lava_run") or {}
    if lava.get("runs"):
        lines.append(f"  lava      {lava['chip_ops']} chip ops, {lava['host_ops_in_run']} host ops inside the run; "
                     f"host<->chip per step and sample: {lava['bits_to_host_per_step']:,} bits to the host, "
                     f"{lava['bits_to_chip_per_step']:,} to the chip")
    total = c.report.get("total")
    if total:
        ratio = total.get("energy_ratio")
        lines.append(f"  energy    {fmt_energy(total['energy_pj'])} per inference "
                     f"({c.report['energy_model']['name']} model; ANN {fmt_energy(total['ann_energy_pj'])}"
                     + (f", ratio {ratio:.3f})" if ratio is not None else ")"))
    if d["timing"]:
        t = d["timing"]
        lines.append(f"  latency   {t['latency_s'] * 1e6:.1f} us per sample, {t['throughput_samples_per_s']:,.0f} "
                     f"samples/s (cycle model, {t['clock_hz'] / 1e6:.0f} MHz nominal)")
    if files:
        lines.append(f"  wrote     {outdir}/{{{', '.join(files)}}}")
    if d["netx"].get("notes"):
        lines += [f"  netx note {n}" for n in d["netx"]["notes"]]
    return "\n".join(lines)
