"""Cycle-level timing of a mapped program: a model, per core and time step.

A core's work in one step is what its tiles did in the simulator (the partitioned
program, :mod:`.partition`, has one sub-layer per tile, so the simulator's counts are
per tile):

    cycles[core, t] = synaptic_ops · c_syn + neuron_updates · c_neuron + spikes_out · c_spike

- ``synaptic_ops``: the synaptic events its tiles received (each input spike times its
  synapses on this core: the simulator's exact AC count per sub-layer);
- ``neuron_updates``: every compartment, every step;
- ``spikes_out``: spike messages leaving the core: each spike of its neurons goes to every
  core that holds one of its postsynaptic neurons (the mapping's routes, on average).

A step ends when the slowest core is done and the mesh-wide barrier completes:
``step[t] = max_core cycles[core, t] + c_barrier``. One sample takes its T steps plus
the pipeline fill (one step per synaptic layer on the longest path, Lava's delay), at the
mean step time; throughput is one sample after another. The costs and the clock are the
target's timing figures, all marked as a model (:mod:`.targets`); host work is not timed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.loihi.mapping import Mapping
from snnc.backends.loihi.partition import tile_nodes


@dataclass
class Timing:
    cycles: np.ndarray            # [cores, T] per sample
    step_cycles: np.ndarray       # [T]: slowest core + barrier
    messages: np.ndarray          # [T] spike messages between cores, per sample
    fill_steps: int
    clock_hz: float

    @property
    def latency_s(self) -> float:
        steps = self.step_cycles.sum() + self.fill_steps * self.step_cycles.mean()
        return float(steps / self.clock_hz)

    @property
    def throughput(self) -> float:
        return 1.0 / self.latency_s if self.latency_s > 0 else float("inf")

    def to_dict(self) -> dict:
        busiest = self.cycles.sum(axis=1)
        return {
            "model": "cycle-level model: per-op costs and clock from the target table, not a measurement",
            "clock_hz": self.clock_hz,
            "step_cycles": self.step_cycles.tolist(),
            # no cores (a model with no chip layer: all on the host): no slowest core
            "slowest_core_per_step": [int(i) for i in self.cycles.argmax(axis=0)] if self.cycles.shape[0] else [],
            "core_cycles_total": busiest.tolist(),
            "messages_per_step": self.messages.tolist(),
            "fill_steps": self.fill_steps,
            "latency_s": self.latency_s,
            "throughput_samples_per_s": self.throughput,
        }


def core_timing(mapping: Mapping, result, fill_steps: int) -> Timing:
    """The timing of ``mapping`` from ``result``, the simulator's counts on the
    partitioned program (:func:`snnc.backends.sim.simulate`)."""
    target = mapping.target
    steps = result.timesteps or 1
    cores = len(mapping.cores)
    syn, upd, spk = (np.zeros((cores, steps)) for _ in range(3))
    names = tile_nodes(mapping)
    for core in mapping.cores:
        for tile in core.tiles:
            synapse, neuron = names[id(tile)]
            s = result.layers.get(synapse)
            if s is not None:
                syn[core.index] += _per_step(s.events, s.samples, steps)
            upd[core.index] += tile.needs["neurons"]
            n = result.layers.get(neuron) if neuron else None
            if n is not None:
                spk[core.index] += _per_step(n.spikes_out, n.samples, steps)
    fanout = np.array([c.load["output_axons"] / max(c.load["neurons"], 1) for c in mapping.cores])
    messages = spk * fanout[:, None]
    cycles = (syn * float(target.cycles_per_synaptic_op) + upd * float(target.cycles_per_neuron_update)
              + messages * float(target.cycles_per_spike_out))
    step = cycles.max(axis=0) + float(target.cycles_per_barrier) if cores else np.zeros(steps)
    return Timing(cycles, step, messages.sum(axis=0), fill_steps, float(target.clock_hz))


def _per_step(values: np.ndarray, samples: int, steps: int) -> np.ndarray:
    per_sample = np.asarray(values, dtype=np.float64) / max(samples, 1)
    if per_sample.size == steps:
        return per_sample
    out = np.zeros(steps)
    out[-1] = per_sample.sum()
    return out
