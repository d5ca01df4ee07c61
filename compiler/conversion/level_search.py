"""Per-layer levels for ``snnc evaluate --target-agreement X`` (beyond the papers).

After the smallest T that reaches X at the file's levels (:func:`snnc.conversion.search.smallest_t`),
each multi-threshold neuron's levels n (ECMT §4.3: graded spikes ±θ·2^k, k < n) are lowered
greedily while the agreement at that T stays ≥ X.

- **Candidates.** A graded spike carries its sign and its exponent k < n: a payload of
  1 + ⌈log₂ n⌉ bits (:func:`payload_bits`). Only the largest n of each payload width is
  tried (8 → 4 → 2 → 1; from 6: 4, 2, 1): a lower n of the same width saves no bit and can
  only lose agreement.
- **Order.** ECMT's energy (supplement Eq. 13–14) and the simulator's count charge a graded
  spike one AC per synapse it reaches, whatever its payload, so "energy saved per layer"
  orders nothing: it is zero unless the spike count moves, and fewer levels move it up if
  anything (a value above the largest level drains over more steps). The layers are tried
  in descending order of the payload they emit per sample at T (spikes × bits, measured in
  the first evaluation; ties by name): the greedy spends the agreement slack first where a
  lost bit saves the most traffic.
- **Acceptance.** A lower n is kept when the agreement at T stays ≥ X and the synaptic
  energy does not rise; the first refusal ends that layer (one pass, deterministic).

Each trial is one :func:`snnc.conversion.evaluate.evaluate` at T: the same batches, the
same bounded streaming, the same Ray sharding when asked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from snnc.conversion.evaluate import Evaluation, Row
from snnc.conversion.search import agreement
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph


def payload_bits(levels: int) -> int:
    """Bits of one graded spike ±θ·2^k, k < ``levels``: the sign and k."""
    return 1 + math.ceil(math.log2(levels)) if levels > 1 else 1


def next_width(levels: int) -> int | None:
    """The most levels with one payload bit fewer than ``levels`` has, or None at 1."""
    return None if levels <= 1 else 2 ** (payload_bits(levels) - 2)


def neurons(graph: Graph) -> dict[str, int]:
    """Multi-threshold neurons and their levels, in graph order."""
    return {n.name: int(n.attrs["levels"]) for n in graph.nodes if n.op == "multi_threshold"}


def site_keys(graph: Graph, keys: list[str]) -> dict[str, str]:
    """Neuron name -> its ``--thresholds`` key among ``keys`` (the ANN's sites,
    :func:`snnc.conversion.convert.site_keys`), read from the name ``<layer>.mt<i>`` the
    conversion gives it (:func:`snnc.conversion.ecmt.neuron_name`). The importer lowercases
    names that are not module paths, so a key matches regardless of case when only one does.
    Neurons that name no key (a file converted by an older snnc) are left out."""
    from snnc.conversion.ecmt import site_key

    by_lower: dict[str, list[str]] = {}
    for key in keys:
        by_lower.setdefault(key.lower(), []).append(key)
    out = {}
    for name in neurons(graph):
        m = re.fullmatch(r"(.+)\.mt(\d+)", name)
        if m is None:
            continue
        wanted = site_key(m.group(1), int(m.group(2)))
        found = [wanted] if wanted in keys else by_lower.get(wanted.lower(), [])
        if len(found) == 1:
            out[name] = found[0]
    return out


def levels_file(graph: Graph, keys: dict[str, str]) -> dict:
    """``{key: {"levels", "theta_pos", "theta_neg"}}`` of every multi-threshold neuron: a
    ``snnc convert --thresholds`` file that rebuilds these neurons from the same ANN,
    whatever the calibration data (the thresholds are the float32 values in the graph;
    JSON keeps them exactly)."""
    missing = [n for n in neurons(graph) if n not in keys]
    if missing:
        raise SnncError(f"cannot name neuron(s) {missing[:3]} by a --thresholds key of the ANN (convert the ANN "
                        "again with this snnc, or check --ann is the ANN the SNN was converted from)")

    def theta(values):
        values = [float(v) for v in values]
        return values[0] if len(values) == 1 else values

    return {keys[n.name]: {"levels": int(n.attrs["levels"]), "theta_pos": theta(n.attrs["theta_pos"]),
                           "theta_neg": theta(n.attrs["theta_neg"])}
            for n in graph.nodes if n.op == "multi_threshold"}


def with_levels(graph: Graph, levels: dict[str, int]) -> Graph:
    """A copy of ``graph`` with these neurons' levels (kinds re-inferred: graded(levels=n))."""
    from snnc.passes.rewrite import reinfer

    g = graph.copy()
    for name, n in levels.items():
        node = g.node(name)
        node.attrs = {**node.attrs, "levels": int(n)}
    reinfer(g)
    return g


def payload(ev: Evaluation, levels: dict[str, int], T: int) -> dict[str, float]:
    """Payload bits per sample each neuron emits in its first T steps."""
    out = {}
    for name, n in levels.items():
        stats = ev.layers.get(name)
        spikes = 0.0 if stats is None else float(stats.spikes_out[:T].sum()) / ev.samples
        out[name] = spikes * payload_bits(n)
    return out


@dataclass
class Trial:
    layer: str
    levels: int
    agreement: float
    energy_synaptic_pj: float | None
    kept: bool


@dataclass
class LevelChoice:
    """What the search chose at T: levels per neuron, and the row before and after.
    ``keys`` (neuron -> ``--thresholds`` key, :func:`site_keys`) names the neurons in
    reports the way a thresholds file does; a neuron without a key keeps its own name."""

    T: int
    start: dict[str, int]
    levels: dict[str, int]
    before: Row
    after: Row
    payload_before: float                  # graded-spike payload bits per sample, all neurons
    payload_after: float
    trials: list[Trial] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    def _named(self, levels: dict[str, int]) -> dict[str, int]:
        return {self.keys.get(name, name): n for name, n in levels.items()}

    def to_dict(self, measure: str) -> dict:
        from dataclasses import asdict

        from snnc.conversion.search import row_dict

        trials = [{**asdict(t), "layer": self.keys.get(t.layer, t.layer)} for t in self.trials]
        return {"T": self.T, "levels_start": self._named(self.start), "levels": self._named(self.levels),
                "before": row_dict(self.before, measure), "after": row_dict(self.after, measure),
                "payload_bits_before": self.payload_before, "payload_bits_after": self.payload_after,
                "trials": trials}

    def lines(self, measure: str) -> list[str]:
        if not self.start:
            return ["  no multi-threshold neurons: no levels to choose"]
        changed = {k: (self.start[k], v) for k, v in self.levels.items() if v != self.start[k]}
        out = [f"  levels per layer at T = {self.T} ({len(changed)} of {len(self.start)} lowered, "
               f"{len(self.trials)} evaluations):"]
        out += [f"    {self.keys.get(name, name)}: {self.start[name]}" + (f" -> {n}" if n != self.start[name] else "")
                for name, n in self.levels.items()]
        for label, r, bits in (("before", self.before, self.payload_before), ("after", self.after, self.payload_after)):
            energy = "-" if r.energy_synaptic_pj is None else (
                f"{r.energy_synaptic_pj / 1e6:.4g} uJ, ratio {r.ratio_synaptic:.4f}")
            out.append(f"  {label:6}: agreement {agreement(r, measure):.4f}, energy (synaptic) {energy}, "
                       f"payload {bits:.4g} bits/sample")
        return out


def tune_levels(snn: Graph, ann, data, target: float, T: int, first: Evaluation, *, measure: str = "top1",
                labels=None, **evaluate_options) -> tuple[Graph, LevelChoice]:
    """Lower each multi-threshold neuron's levels while the agreement at ``T`` stays ≥
    ``target``; ``first`` is ``snn``'s evaluation covering T (its per-layer spikes give the
    order). Returns the tuned graph and the :class:`LevelChoice`."""
    from snnc.conversion.evaluate import evaluate

    start = neurons(snn)
    before = next(r for r in first.rows if r.T == T)
    bits = payload(first, start, T)
    current, row, graph, ev = dict(start), before, snn, first
    trials = []
    for name in sorted(start, key=lambda k: (-bits[k], k)):
        while (lower := next_width(current[name])) is not None:
            trial = {**current, name: lower}
            g = with_levels(snn, trial)
            e = evaluate(g, ann, data, labels=labels, steps=[T], **evaluate_options)
            r = e.rows[0]
            cheaper = r.energy_synaptic_pj is None or row.energy_synaptic_pj is None \
                or r.energy_synaptic_pj <= row.energy_synaptic_pj
            kept = bool(agreement(r, measure) >= target and cheaper)
            trials.append(Trial(name, lower, float(agreement(r, measure)),
                                None if r.energy_synaptic_pj is None else float(r.energy_synaptic_pj), kept))
            if not kept:
                break
            current, row, graph, ev = trial, r, g, e
    choice = LevelChoice(T, start, current, before, row, sum(bits.values()),
                         sum(payload(ev, current, T).values()), trials)
    return graph, choice
