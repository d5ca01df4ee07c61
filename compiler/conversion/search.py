"""``--target-agreement X`` (beyond the papers): the cheapest SNN that agrees with its ANN.

Agreement is top-1 agreement with the ANN on the evaluation data (for an embedding, the
mean cosine similarity). One evaluation at T_max gives every T ≤ T_max (the SNN is
causal), so the smallest T that reaches X costs one run. ``snnc convert`` also searches
the number of threshold levels n (``ecmt``/``sit``): each candidate n is converted and
evaluated once, and the cheapest (n, T) by synaptic energy that reaches X wins; then,
as ``snnc evaluate --target-agreement`` does, the levels of each layer are lowered at that
T (:mod:`snnc.conversion.level_search`, driven by :mod:`snnc.conversion.target`).
"""

from __future__ import annotations

from dataclasses import dataclass

from snnc.conversion.evaluate import Evaluation, Row
from snnc.ir.errors import SnncError


MEASURES = ("top1", "cosine")


def agreement(row: Row, measure: str) -> float:
    """Top-1 agreement with the ANN (a classifier) or mean cosine similarity (an embedding)."""
    return row.agreement if measure == "top1" else row.cosine


def row_dict(row: Row, measure: str) -> dict:
    """One T's figures as a report prints them under ``"target"`` (plain floats or None)."""
    values = {"agreement": agreement(row, measure), "accuracy": row.accuracy,
              "energy_synaptic_pj": row.energy_synaptic_pj, "ratio_synaptic": row.ratio_synaptic,
              "energy_full_pj": row.energy_full_pj, "ratio_full": row.ratio_full, "firing_rate": row.firing_rate}
    return {k: None if v is None else float(v) for k, v in values.items()}


def smallest_t(ev: Evaluation, target: float, measure: str = "top1") -> Row | None:
    """The first row (smallest T) whose agreement reaches ``target``, or None."""
    if not 0 < target <= 1:
        raise SnncError(f"--target-agreement must be in (0, 1], got {target}")
    if measure not in MEASURES:
        raise SnncError(f"agreement measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    return next((r for r in ev.rows if agreement(r, measure) >= target), None)


@dataclass
class Choice:
    levels: int | None
    row: Row
    tried: list[tuple[int | None, Row | None]]

    def lines(self, target: float) -> list[str]:
        out = [f"target agreement {target:g}: chose "
               + (f"n = {self.levels} levels, " if self.levels is not None else "")
               + f"T = {self.row.T} (agreement {self.row.agreement:.4f}, cosine {self.row.cosine:.4f}, "
               f"energy {self.row.energy_synaptic_pj / 1e6:.4g} uJ, ratio {self.row.ratio_synaptic:.3f})"]
        for levels, row in (self.tried if len(self.tried) > 1 else []):
            what = "not reached" if row is None else f"T = {row.T}, {row.energy_synaptic_pj / 1e6:.4g} uJ"
            out.append(f"  n = {levels}: {what}" if levels is not None else f"  {what}")
        return out


def choose(candidates: list[tuple[int | None, Evaluation]], target: float, measure: str = "top1") -> Choice:
    """The cheapest (levels, T) reaching ``target`` among evaluated candidates."""
    tried = []
    best = None
    for levels, ev in candidates:
        row = smallest_t(ev, target, measure)
        tried.append((levels, row))
        # the least energy; on a tie the fewest levels (fewer payload bits per graded spike)
        if row is not None and (best is None or ((row.energy_synaptic_pj or 0), levels or 0)
                                < ((best[1].energy_synaptic_pj or 0), best[0] or 0)):
            best = (levels, row)
    if best is None:
        reached = max((agreement(r, measure) for _, ev in candidates for r in ev.rows), default=0.0)
        raise SnncError(f"no candidate reaches agreement {target:g} (best {reached:.4f} at the largest T "
                        f"tried); raise -T or lower --target-agreement")
    return Choice(best[0], best[1], tried)


def search_levels(ann, calib, data, target: float, *, method: str, levels: int, max_t: int,
                  measure: str = "top1", labels=None, percentile: float = 99.0, overrides=None,
                  progress: bool = False, **options):
    """Convert ``ann`` with n = ``levels`` and fewer levels (n, 6, 4, 2 below it), evaluate
    each on ``data`` for T = 1..``max_t`` (``options`` go to :func:`convert`); returns
    (the chosen SNN as ONNX, its info, :class:`Choice`, its :class:`Evaluation`): the
    per-layer search (:func:`snnc.conversion.target.reach_target`) starts from these."""
    from snnc.conversion.convert import as_model_proto, convert
    from snnc.conversion.evaluate import evaluate
    from snnc.onnx.importer import import_onnx

    proto = as_model_proto(ann)
    candidates = [levels] + [n for n in (6, 4, 2) if n < levels] if method != "relu-if" else [None]
    results, built = [], {}
    for n in candidates:
        snn, info = convert(proto, calib, method=method, percentile=percentile, progress=progress,
                            levels=n or 8, overrides=overrides, **options)
        ev = evaluate(import_onnx(snn), proto, data, labels=labels, steps=range(1, max_t + 1), progress=progress)
        results.append((n, ev))
        built[n] = (snn, info, ev)
    choice = choose(results, target, measure)
    snn, info, ev = built[choice.levels]
    return snn, info, choice, ev
