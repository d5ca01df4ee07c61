"""Loihi targets as data: what one core holds, how a synapse is costed, how long things take.

Every figure carries its source and an ``uncertain`` mark. Loihi 1 figures come from
Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning", IEEE
Micro 38(1), 2018 (pre-silicon); Loihi 2 figures from Intel's Loihi 2 technology brief
(2021) and secondary sources, which give chip totals rather than per-core limits: those
are marked uncertain, with how they were derived. The timing figures are a *model*
(Loihi's cores are asynchronous): per-operation costs in cycles of a nominal clock,
used to rank mappings and estimate latency, never reported as measurements.

How a synapse is costed (``synapse_bits`` per stored synapse): a dense layer stores one
weight per (input, neuron) pair; a convolution on Loihi 1 is expanded (every neuron
stores its own copy of the kernel taps it uses), on Loihi 2 the kernel is stored once
per core and shared (``conv_shares_weights``, uncertain: Loihi 2's convolutional
connectivity is described, its memory layout is not public).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from snnc.ir.errors import SnncError


@dataclass(frozen=True)
class Figure:
    value: float
    source: str
    uncertain: bool = False

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict:
        return {"value": self.value, "source": self.source, "uncertain": self.uncertain}


_DAVIES = "Davies et al. 2018 (IEEE Micro), Loihi 1, pre-silicon"
_BRIEF = "Intel Loihi 2 technology brief (2021)"
_MODEL = "snnc timing model (assumed; Loihi is asynchronous)"


@dataclass(frozen=True)
class Target:
    """One chip generation's limits and costs (see the module docstring)."""

    name: str
    cores_per_chip: Figure
    neurons_per_core: Figure          # compartments
    synaptic_memory_bits: Figure      # per core
    synapse_bits: Figure              # one stored weight (dense, or expanded conv)
    conv_shares_weights: Figure       # 1: a conv kernel is stored once per core
    input_axons_per_core: Figure      # distinct presynaptic neurons a core can receive from
    output_axons_per_core: Figure     # (neuron, destination core) routes a core can send
    weight_bits: Figure
    message_bits: Figure              # 0: binary spikes only
    clock_hz: Figure                  # the nominal clock of the timing model
    cycles_per_synaptic_op: Figure
    cycles_per_neuron_update: Figure
    cycles_per_spike_out: Figure      # one spike message leaving a core
    cycles_per_barrier: Figure        # end-of-step synchronisation

    def limits(self) -> dict[str, int]:
        """The per-core limits a mapping must respect."""
        return {"neurons": int(self.neurons_per_core), "synapse_bits": int(self.synaptic_memory_bits),
                "input_axons": int(self.input_axons_per_core), "output_axons": int(self.output_axons_per_core)}

    def to_dict(self) -> dict:
        out = {"name": self.name}
        for f in fields(self):
            if f.name != "name":
                out[f.name] = getattr(self, f.name).to_dict()
        return out


LOIHI1 = Target(
    name="loihi1",
    cores_per_chip=Figure(128, _DAVIES),
    neurons_per_core=Figure(1024, _DAVIES + ": 1,024 compartments per core"),
    synaptic_memory_bits=Figure(128 * 1024 * 8, _DAVIES + ": 128 KB synaptic state per core"),
    synapse_bits=Figure(8, _DAVIES + ": up to 8-bit weights (indices and delays not counted)", True),
    conv_shares_weights=Figure(0, _DAVIES + ": synapses are stored per neuron (no shared kernels)", True),
    input_axons_per_core=Figure(4096, _DAVIES + ": 4,096 input axon lists per core"),
    output_axons_per_core=Figure(4096, _DAVIES + ": 4,096 fan-out axons per core"),
    weight_bits=Figure(8, _DAVIES),
    message_bits=Figure(0, _DAVIES + ": binary spikes"),
    clock_hz=Figure(1e9, _MODEL + ": 1 cycle = 1 ns", True),
    cycles_per_synaptic_op=Figure(4, _MODEL + ": ~3.5 ns minimum per synaptic spike op (Davies 2018)", True),
    cycles_per_neuron_update=Figure(8, _MODEL + ": per compartment per step", True),
    cycles_per_spike_out=Figure(4, _MODEL + ": one mesh hop", True),
    cycles_per_barrier=Figure(500, _MODEL + ": mesh-wide barrier per step", True),
)

LOIHI2 = Target(
    name="loihi2",
    cores_per_chip=Figure(128, _BRIEF + ": 128 neuromorphic cores per chip"),
    neurons_per_core=Figure(8192, _BRIEF + ": up to 1M neurons per chip / 128 cores", True),
    synaptic_memory_bits=Figure(192 * 1024 * 8, "~192 KB per core (secondary sources)", True),
    synapse_bits=Figure(8, "8-bit weights (Lava's Dense/Conv precision)"),
    conv_shares_weights=Figure(1, _BRIEF + ": convolutional connectivity; layout not public", True),
    input_axons_per_core=Figure(8192, "assumed: twice Loihi 1, with the neuron count", True),
    output_axons_per_core=Figure(8192, "assumed: twice Loihi 1, with the neuron count", True),
    weight_bits=Figure(8, "lava-nc 0.10.0 Dense/Conv weight precision"),
    message_bits=Figure(24, _BRIEF + ": graded spikes up to 32 bits; Lava types them 24-bit"),
    clock_hz=Figure(1e9, _MODEL + ": 1 cycle = 1 ns", True),
    cycles_per_synaptic_op=Figure(2, _MODEL + ": 'up to 10x faster' than Loihi 1 (brief)", True),
    cycles_per_neuron_update=Figure(4, _MODEL, True),
    cycles_per_spike_out=Figure(2, _MODEL, True),
    cycles_per_barrier=Figure(250, _MODEL, True),
)

TARGETS = {"loihi1": LOIHI1, "loihi2": LOIHI2, "loihi": LOIHI2}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise SnncError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)} "
                        "(loihi is loihi2)") from None
