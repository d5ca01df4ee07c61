"""``snnc evaluate``: a converted SNN against its ANN, at every T, on a data set.

One simulator run at T_max gives every smaller T: the SNN is causal, so its first t
steps at T_max are its run at T = t. Its output at T is the mean of its per-step outputs
up to T (rate decoding; ECMT and SIT read the classifier this way), and its counts at T
are the per-step counts summed up to T.

Per T: top-1 accuracy (with labels), agreement with the ANN (top-1 match for a
classifier; cosine similarity and max |error| for any output), neuron firing rate, and
energy at 45 nm (or the chosen model) in two ways, named in every report:

- ``synaptic``: ECMT's count — E_AC·ACs + E_MAC·MACs of the synaptic layers and matrix
  products only (supplement Eq. 13–14; Tables 1–2's "energy ratio");
- ``full``: the same plus what the energy model prices per neuron update and per spike,
  and SIT's Spiking-Softmax (SI-exp spikes as ACs, SI-norm's FLOPs as MACs).

The ANN's energy is E_MAC × its dense MACs per sample (every synaptic layer and matmul,
BatchNorm folded), and the ratio is SNN / ANN. Data stream through in batches; each
batch yields a :class:`Partial` of plain sums, merged in batch order, so the figures do
not depend on how batches are spread over workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from snnc.conversion.data import batches, input_specs
from snnc.backends.sim.simulator import progress_bar
from snnc.conversion.calibrate import ann_session
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph


@dataclass
class Partial:
    """Sums over some samples, per T (index i of ``steps``)."""

    samples: int
    correct: np.ndarray            # [len(steps)] SNN top-1 == label
    ann_correct: int
    agree: np.ndarray              # [len(steps)] SNN top-1 == ANN top-1
    cosine: np.ndarray             # [len(steps)] Σ cosine(SNN, ANN) over samples
    max_error: np.ndarray          # [len(steps)] max |SNN − ANN|
    layers: dict = field(default_factory=dict)    # name -> snnc.backends.sim.stats.LayerStats

    def merge(self, other: Partial) -> Partial:
        for name, stats in other.layers.items():
            if name in self.layers:
                self.layers[name].add(stats)
            else:
                self.layers[name] = stats
        return Partial(self.samples + other.samples, self.correct + other.correct,
                       self.ann_correct + other.ann_correct, self.agree + other.agree,
                       self.cosine + other.cosine, np.maximum(self.max_error, other.max_error), self.layers)


@dataclass
class Row:
    """One T of the result table (energies in pJ per sample)."""

    T: int
    accuracy: float | None
    agreement: float
    cosine: float
    max_error: float
    firing_rate: float
    energy_synaptic_pj: float | None
    energy_full_pj: float | None
    ratio_synaptic: float | None
    ratio_full: float | None


@dataclass
class Evaluation:
    rows: list[Row]
    samples: int
    ann_accuracy: float | None
    ann_energy_pj: float | None
    ann_macs: int
    energy_model: str
    workers: int = 1
    #: name -> snnc.backends.sim.stats.LayerStats summed over the samples (not in to_dict):
    #: what the level search reads its per-layer spike counts from
    layers: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {"samples": self.samples, "ann": {"accuracy": self.ann_accuracy, "energy_pj": self.ann_energy_pj,
                                                 "macs": self.ann_macs},
                "energy_model": self.energy_model, "workers": self.workers, "rows": [asdict(r) for r in self.rows]}


def parse_steps(text: str) -> list[int]:
    """``"1,2,4,8"`` -> [1, 2, 4, 8] (sorted, unique, each >= 1)."""
    try:
        steps = sorted({int(s) for s in str(text).split(",") if s.strip()})
    except ValueError:
        raise SnncError(f"-T takes comma-separated time steps such as 1,2,4,8, got {text!r}") from None
    if not steps or steps[0] < 1:
        raise SnncError(f"-T takes time steps >= 1, got {text!r}")
    return steps


def run_slice(snn: Graph, session, specs, data: dict[str, np.ndarray], labels, steps: list[int],
              engine: str = "numpy") -> Partial:
    """Samples ``data`` (one slice of the set): the ANN on onnxruntime, the SNN on the
    simulator at max(steps); a fixed-batch ANN is fed its batch size at a time."""
    total = None
    start = 0
    for count, _, feeds in batches(data, specs, next(iter(data.values())).shape[0]):
        y = None if labels is None else labels[start:start + count]
        part = _run_batch(snn, session, feeds, count, y, steps, engine)
        total = part if total is None else total.merge(part)
        start += count
    return total


def _run_batch(snn, session, feeds, count, labels, steps, engine) -> Partial:
    from snnc.backends.sim import simulate

    ann = np.asarray(session.run(None, feeds)[0])[:count].astype(np.float64)
    sim = simulate(snn, {k: v[:count] for k, v in feeds.items()}, timesteps=steps[-1], engine=engine)
    out = np.asarray(sim.outputs[snn.outputs[0]], dtype=np.float64)           # [T, count, ...]
    if out.shape[1:] != ann.shape:
        raise SnncError(f"the SNN's output {snn.outputs[0]!r} has per-step shape {list(out.shape[1:])}, "
                        f"the ANN's {list(ann.shape)}; are they the same model?")
    mean = np.cumsum(out, axis=0) / np.arange(1, out.shape[0] + 1).reshape(-1, *([1] * ann.ndim))
    flat = mean[[t - 1 for t in steps]].reshape(len(steps), count, -1)       # SNN at each T
    flat_ann = ann.reshape(count, -1)
    top, ann_top = flat.argmax(-1), flat_ann.argmax(-1)
    norms = np.linalg.norm(flat, axis=-1) * np.linalg.norm(flat_ann, axis=-1)
    cos = np.where(norms > 0, (flat * flat_ann).sum(-1) / np.where(norms > 0, norms, 1), 0.0)
    has = labels is not None
    return Partial(count, (top == labels).sum(-1) if has else np.zeros(len(steps), dtype=np.int64),
                   int((ann_top == labels).sum()) if has else 0, (top == ann_top).sum(-1), cos.sum(-1),
                   np.abs(flat - flat_ann).max(axis=(1, 2)), dict(sim.layers))


def summarize(total: Partial, steps: list[int], snn: Graph, ann_graph: Graph, energy_model, has_labels: bool) -> Evaluation:
    from snnc.backends.energy.methods import ann_energy, ann_flops

    macs = ann_flops(ann_graph)
    e_ann = ann_energy(macs, energy_model)
    rows = []
    n = total.samples
    for i, t in enumerate(steps):
        acs = mac = spikes = updates = 0.0
        sit_pj = 0.0           # SIT's Spiking-Softmax: conversion overhead, in the full count only
        for s in total.layers.values():
            upto = slice(0, t) if s.steps > 1 else slice(0, s.steps)
            if s.role in ("si_exp", "si_norm"):
                sit_pj += (s.acs_per_step[upto].sum() * energy_model.e_ac_pj
                           + s.macs_per_step[upto].sum() * (energy_model.e_mac_pj or 0.0)) / n
                continue
            acs += s.acs_per_step[upto].sum() / n
            mac += s.macs_per_step[upto].sum() / n
            spikes += s.spikes_out[upto].sum() / n if s.role == "neuron" else 0.0
            updates += s.neuron_updates_per_step[upto].sum() / n
        syn = None if energy_model.e_mac_pj is None and mac else acs * energy_model.e_ac_pj + mac * (energy_model.e_mac_pj or 0)
        neuron = (energy_model.e_neuron_inactive_pj * (updates - spikes) + energy_model.e_neuron_active_pj * spikes
                  + energy_model.e_spike_pj * spikes)
        full = None if syn is None else syn + neuron + sit_pj
        rows.append(Row(t, float(total.correct[i] / n) if has_labels else None, float(total.agree[i] / n),
                        float(total.cosine[i] / n), float(total.max_error[i]),
                        float(spikes / updates) if updates else 0.0, syn, full,
                        None if syn is None or not e_ann else syn / e_ann,
                        None if full is None or not e_ann else full / e_ann))
    return Evaluation(rows, n, float(total.ann_correct / n) if has_labels else None, e_ann, macs, energy_model.name,
                      layers=total.layers)


def evaluate(snn: Graph, ann: onnx.ModelProto, data: dict[str, np.ndarray], *, labels=None,
             steps=(1, 2, 4, 6, 8, 10), batch_size: int = 64, energy_model=None, engine: str = "numpy",
             workers: int = 1, address: str | None = None, progress: bool = False) -> Evaluation:
    """Evaluate ``snn`` against ``ann`` on ``data`` (arrays by ANN input name, samples first)."""
    from snnc.backends.energy.models import load_model
    from snnc.onnx.importer import import_onnx

    steps = sorted(set(int(t) for t in steps))
    model = energy_model if energy_model is not None and not isinstance(energy_model, str) \
        else load_model(energy_model or "45nm")
    specs = input_specs(ann)
    n = next(iter(data.values())).shape[0]
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape[0] != n or labels.dtype.kind not in "iu":
            raise SnncError(f"labels must be {n} integers (one per sample), got {labels.dtype} of shape "
                            f"{list(labels.shape)}")
    if [s.name for s in specs] != list(snn.inputs):
        raise SnncError(f"the SNN takes inputs {list(snn.inputs)} but the ANN {[s.name for s in specs]}; "
                        "convert the ANN with snnc convert so both take the same inputs")
    # slices of whole batches, merged in order: the sums do not depend on the workers
    fixed = _fixed(specs)
    step = fixed * max(1, batch_size // fixed) if fixed else batch_size
    slices = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    if workers > 1 or address:
        from snnc.conversion.distributed import run_sharded

        parts = run_sharded(snn, ann, data, labels, slices, steps, engine, workers, address)
    else:
        parts = _run_local(snn, ann, data, labels, slices, steps, engine, progress)
    total = parts[0]
    for p in parts[1:]:
        total = total.merge(p)
    ev = summarize(total, steps, snn, import_onnx(ann), model, labels is not None)
    ev.workers = workers if workers > 1 or address else 1
    return ev


def _fixed(specs) -> int | None:
    fixed = {s.shape[0] for s in specs if s.shape and s.shape[0] is not None}
    return fixed.pop() if len(fixed) == 1 else None


def _run_local(snn, ann, data, labels, slices, steps, engine, progress) -> list[Partial]:
    session = ann_session(ann, threads=1)
    specs = input_specs(ann)
    bar = progress_bar(slices[-1][1], progress, desc="evaluating", unit="sample")
    parts = []
    for lo, hi in slices:
        parts.append(run_slice(snn, session, specs, {k: v[lo:hi] for k, v in data.items()},
                               None if labels is None else labels[lo:hi], steps, engine))
        if bar is not None:
            bar.update(hi - lo)
    if bar is not None:
        bar.close()
    return parts
