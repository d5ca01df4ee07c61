"""What the simulator counts, per layer and time step, and how counts become ACs and MACs.

A *layer* is a node that does synaptic work (a ``SYNAPTIC`` op: conv, conv_transpose,
linear, or an integer Loihi op; or a ``matmul`` of two dynamic tensors) or a spiking
neuron (``NEURON``). Every array below has one entry per time step (one entry for a
layer that runs once per sample, outside time) and is summed over the samples run.

How an input is charged (the papers' accounting, made exact):

- ``spike`` input (binary, signed, or one nonzero level): each nonzero element costs
  its real fan-out in ACs (Spikingformer Eq. 18 counts fr·T·FLOPs; the simulator counts
  the synapses actually reached, so padding and stride borders are exact);
- ``count`` input (integers 0…k from a spike + spike residual, Spikingformer Eq. 3):
  ``integer_as="macs"`` (default) charges each nonzero element its fan-out in MACs — an
  integer times a float weight is a multiplication (Spikingformer App. F, way 2);
  ``integer_as="acs"`` charges a value n as n ACs per synapse (App. F, way 1);
- ``analog`` input (anything else): dense MACs, the layer's FLOPs per evaluation;
- ``graded`` spikes of a multi-threshold neuron (``graded(levels=n)``, ECMT): charged as
  ``spike``: one AC per nonzero input per fan-out, the weight shifted by the payload's
  exponent (as the ECMT supplement counts);
- ``spiking_matmul`` (ECMT Theorem 2) with two spike operands: ACs are the supplement's
  nnz patterns, per output element summed: Σ_k [A≠0][B≠0] + [A≠0][S_B(t−1)≠0] +
  [S_A(t−1)≠0][B≠0] (the three gated sums of Eq. 12); MACs are Eq. 14 at the measured
  per-step, per-sample firing rates η₁, η₂: (min(η₁, η₂) + η₁ + η₂)·n·m per matrix pair;
  ``bound`` keeps Eq. 13's ACs upper bound (η₁η₂ + η₁ + η₂)·n·p·m + 3·n·m;
- ``matmul`` of two dynamic tensors with a spike operand: one AC per product whose two
  factors are both nonzero (for spike @ spike: the AND-accumulates; a spike gates the
  addition of the other factor); with no spike operand: dense MACs.
- SIT's Spiking-Softmax (roles ``si_exp``, ``si_norm``): an SI-exp neuron's spikes are its
  ACs — each of the at most K spikes per element adds its d(t) to the output (Eq. 4); the
  SI-norm normalisation is what it is, dense FLOPs as MACs: per element one addition into
  V_th, one scaling by N_spike, one division (Eq. 5, 10). These roles are *conversion
  overhead*, like ECMT's expectation compensation: :meth:`SimResult.total`,
  :meth:`SimResult.per_step` and the measured energy leave them out (the papers' ratio,
  synaptic layers and matmuls), :meth:`SimResult.sit_total` gives them, and the report's
  full count adds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPIKE, COUNT, ANALOG = "spike", "count", "analog"
#: SIT's Spiking-Softmax neurons: counted, but outside the synaptic totals (see below)
SIT_ROLES = ("si_exp", "si_norm")
INTEGER_AS = ("macs", "acs")


def input_class(kind) -> str:
    """``spike`` (binary, signed, or a single nonzero magnitude: a scaled spike), ``count``
    (integers 0…k, k >= 2) or ``analog``."""
    if getattr(kind, "is_graded_spike", False):
        return SPIKE
    levels = kind.levels
    if levels is not None and len({abs(v) for v in levels if v}) <= 1:
        return SPIKE
    if kind.count_max is not None:
        return COUNT
    return ANALOG


_ARRAYS = ("nonzero_in", "events", "weighted", "evaluations", "spikes_out", "mults", "bound")


@dataclass
class LayerStats:
    """Counts of one layer, summed over samples; arrays have one entry per step."""

    name: str
    op: str
    role: str                    # "synaptic" | "matmul" | "spiking_matmul" | "neuron" | "si_exp" | "si_norm"
    input_kind: str              # the input's spike kind, e.g. "spike", "count(3)", "spike @ count(16)"
    input_class: str             # SPIKE | COUNT | ANALOG
    steps: int                   # T, or 1 for a layer outside time
    flops: int = 0               # dense MACs of one evaluation (one sample, one step)
    in_size: int = 0             # input elements per sample per step (spike operands for matmul)
    out_size: int = 0            # output elements per sample per step
    fanout_exact: bool = True
    integer_as: str = "macs"
    samples: int = 0
    nonzero_in: np.ndarray = None     # nonzero input elements
    events: np.ndarray = None         # Σ [x≠0]·fan-out (synaptic); Σ [a≠0][b≠0] (matmul)
    weighted: np.ndarray = None       # Σ |x|·fan-out (synaptic)
    evaluations: np.ndarray = None    # sample-evaluations (samples, per step)
    spikes_out: np.ndarray = None     # nonzero outputs (neurons)
    mults: np.ndarray = None          # Eq. 14 multiplications (spiking_matmul)
    bound: np.ndarray = None          # Eq. 13 upper bound on the ACs (spiking_matmul)
    weighted_in: float = 0.0          # Σ |x| over input elements (count inputs)
    operand_sizes: list = field(default_factory=list)     # matmul: elements of each spike operand
    operand_nonzero: list = field(default_factory=list)   # matmul: nonzero elements of each spike operand

    def __post_init__(self):
        for name in _ARRAYS:
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.steps, dtype=np.float64))

    # -- what the counts mean -------------------------------------------------
    @property
    def acs_per_step(self) -> np.ndarray:
        if self.role == "si_exp":
            return self.events
        if self.role == "neuron" or self.role == "si_norm":
            return np.zeros(self.steps)
        if self.input_class == SPIKE:
            return self.events
        if self.input_class == COUNT and self.integer_as == "acs":
            return self.weighted
        return np.zeros(self.steps)

    @property
    def macs_per_step(self) -> np.ndarray:
        if self.role == "spiking_matmul" and self.input_class == SPIKE:
            return self.mults
        if self.role == "si_norm":
            return self.flops * self.evaluations
        if self.role in ("neuron", "si_exp") or self.input_class == SPIKE:
            return np.zeros(self.steps)
        if self.input_class == COUNT:
            return self.events if self.integer_as == "macs" else np.zeros(self.steps)
        return self.flops * self.evaluations

    @property
    def neuron_updates_per_step(self) -> np.ndarray:
        return self.out_size * self.evaluations if self.role == "neuron" else np.zeros(self.steps)

    def per_sample(self, array: np.ndarray) -> float:
        """A per-step array summed over steps, averaged over samples."""
        return float(array.sum()) / max(self.samples, 1)

    @property
    def acs(self) -> float:
        return self.per_sample(self.acs_per_step)

    @property
    def macs(self) -> float:
        return self.per_sample(self.macs_per_step)

    @property
    def neuron_updates(self) -> float:
        return self.per_sample(self.neuron_updates_per_step)

    @property
    def spikes(self) -> float:
        """Spikes emitted per sample (neurons)."""
        return self.per_sample(self.spikes_out)

    @property
    def firing_rate(self) -> float:
        """Neurons: spikes per neuron per step. Synaptic layers and matmuls: the fraction of
        nonzero input elements (of the spike operands), per step — the papers' fr."""
        if self.role == "neuron":
            denom = self.out_size * self.evaluations.sum()
            return float(self.spikes_out.sum() / denom) if denom else 0.0
        denom = self.in_size * self.evaluations.sum()
        return float(self.nonzero_in.sum() / denom) if denom else 0.0

    @property
    def sop_rate(self) -> float:
        """The rate the theoretical method multiplies FLOPs by: fr for a spike input, the mean
        value for a count input charged as ACs (n ACs per n), min(fr_a, fr_b) for a spike @
        spike matmul (as the Spikingformer authors' energy script charges Kᵀ·V)."""
        if self.role == "matmul" and self.operand_sizes:
            runs = self.evaluations.sum()
            return min(nz / (size * runs) if runs else 0.0
                       for nz, size in zip(self.operand_nonzero, self.operand_sizes))
        if self.input_class == COUNT and self.integer_as == "acs" and self.role != "matmul":
            denom = self.in_size * self.evaluations.sum()
            return float(self.weighted_in / denom) if denom else 0.0
        return self.firing_rate

    def add(self, other: LayerStats) -> None:
        """Accumulate another batch's counts of the same layer."""
        for name in _ARRAYS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.samples += other.samples
        self.weighted_in += other.weighted_in
        self.operand_nonzero = [a + b for a, b in zip(self.operand_nonzero, other.operand_nonzero)] \
            if self.operand_nonzero else list(other.operand_nonzero)


@dataclass
class SimResult:
    """The graph outputs (concatenated over batches), recorded values, and per-layer counts."""

    outputs: dict[str, np.ndarray]
    layers: dict[str, LayerStats]
    samples: int
    timesteps: int | None
    recorded: dict[str, np.ndarray] = field(default_factory=dict)
    numerics: str = "float"

    def synaptic(self) -> list[LayerStats]:
        return [s for s in self.layers.values() if s.role in ("synaptic", "matmul", "spiking_matmul")]

    def neurons(self) -> list[LayerStats]:
        return [s for s in self.layers.values() if s.role == "neuron"]

    def sit(self) -> list[LayerStats]:
        """SIT's Spiking-Softmax neurons (roles ``si_exp``, ``si_norm``)."""
        return [s for s in self.layers.values() if s.role in SIT_ROLES]

    def total(self, attr: str) -> float:
        """``acs``, ``macs``, ``neuron_updates`` or ``spikes`` per sample, over every layer
        but SIT's Spiking-Softmax neurons (conversion overhead: :meth:`sit_total`)."""
        return float(sum(getattr(s, attr) for s in self.layers.values() if s.role not in SIT_ROLES))

    def sit_total(self, attr: str) -> float:
        """``acs`` or ``macs`` per sample of SIT's Spiking-Softmax neurons."""
        return float(sum(getattr(s, attr) for s in self.sit()))

    def per_step(self, attr: str) -> np.ndarray:
        """``acs_per_step``, ``macs_per_step``, ``spikes_out`` … per sample, per time step
        (layers outside time are charged to the last step, where they run)."""
        steps = self.timesteps or 1
        out = np.zeros(steps)
        for s in self.layers.values():
            if s.role in SIT_ROLES:
                continue
            values = getattr(s, attr) / max(s.samples, 1)
            if s.steps == steps:
                out += values
            else:
                out[-1] += values.sum()
        return out

    def set_integer_as(self, mode: str) -> None:
        if mode not in INTEGER_AS:
            raise ValueError(f"integer_as must be one of {INTEGER_AS}, got {mode!r}")
        for s in self.layers.values():
            s.integer_as = mode
