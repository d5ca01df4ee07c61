"""``--target-agreement X``, shared by ``snnc evaluate`` and ``snnc convert``: the smallest T
whose agreement with the ANN reaches X (:mod:`snnc.conversion.search`), then the levels of
each multi-threshold neuron at that T (:mod:`snnc.conversion.level_search`).

One result, four renderings: :meth:`TargetResult.to_dict` is what ``--format json`` prints
under ``"target"``; the text lines, and the CSV and HTML sections
(:func:`snnc.conversion.eval_table.target_csv`, :func:`~snnc.conversion.eval_table.target_html`)
are made from it. Neurons are named by their ``--thresholds`` keys (the ANN's layer names,
``name:1`` for a product's second operand), so :meth:`TargetResult.levels_file` is a
thresholds file that rebuilds the chosen SNN with ``snnc convert``.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnc.conversion.evaluate import Evaluation
from snnc.conversion.level_search import LevelChoice, levels_file, neurons, site_keys, tune_levels
from snnc.conversion.search import Choice, choose, row_dict
from snnc.ir.graph import Graph


@dataclass
class TargetResult:
    target: float
    measure: str
    choice: Choice               # the smallest T (from snnc convert: and the global n)
    tuned: LevelChoice | None    # None with --no-tune-levels
    graph: Graph                 # the SNN with the chosen levels
    keys: dict[str, str]         # neuron -> --thresholds key

    def to_dict(self) -> dict:
        """``agreement`` (the target), ``measure``, ``T``, ``before`` (the figures at T with
        the file's levels) and ``levels`` by key; with tuning, also ``levels_start``,
        ``after``, the payloads and every trial (:meth:`LevelChoice.to_dict`)."""
        out = {"agreement": self.target, "measure": self.measure, "T": self.choice.row.T}
        if self.choice.levels is not None:
            out["n"] = self.choice.levels
        out["before"] = row_dict(self.choice.row, self.measure)
        out["levels"] = {self.keys.get(name, name): n for name, n in neurons(self.graph).items()}
        if self.tuned is not None:
            out.update(self.tuned.to_dict(self.measure))
        return out

    def lines(self) -> list[str]:
        return self.choice.lines(self.target) + (self.tuned.lines(self.measure) if self.tuned else [])

    def levels_file(self) -> dict:
        """The chosen neurons as a ``--thresholds`` file (:func:`levels_file`)."""
        return levels_file(self.graph, self.keys)


def reach_target(snn: Graph, ann, data, target: float, ev: Evaluation, *, measure: str = "top1",
                 tune: bool = True, choice: Choice | None = None, labels=None,
                 **evaluate_options) -> TargetResult:
    """``ev`` is ``snn``'s evaluation over every T up to the largest; ``choice`` a choice
    already made over candidates (``snnc convert``'s global levels), else the smallest T
    in ``ev``. ``evaluate_options`` go to every trial's :func:`evaluate`."""
    from snnc.conversion.convert import site_keys as ann_keys

    if choice is None:
        choice = choose([(None, ev)], target, measure)
    keys = site_keys(snn, ann_keys(ann)) if neurons(snn) else {}
    graph, tuned = snn, None
    if tune:
        graph, tuned = tune_levels(snn, ann, data, target, choice.row.T, ev, measure=measure, labels=labels,
                                   **evaluate_options)
        tuned.keys = keys
    return TargetResult(target, measure, choice, tuned, graph, keys)
