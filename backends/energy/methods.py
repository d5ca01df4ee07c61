"""Two ways to turn operations into energy, and the ANN baseline.

``measured``: the simulator's exact counts (:mod:`snnc.backends.sim`), per layer::

    E = E_AC · ACs + E_MAC · MACs  (+ neuron updates and spikes, where the model prices them)

``theoretical``: the papers' formula from FLOPs and firing rates (Spikingformer Eq. 18-19)::

    SOP_i = fr_i · T · FLOPs_i        (a layer reading spikes; fr its input firing rate)
    E     = E_MAC · Σ_{MAC layers} T_i · FLOPs_i  +  E_AC · Σ_{AC layers} SOP_i

The MAC layers are those reading non-spike data: the first (encoding) layer — "first layer
as MAC" — and the head, plus, in Spikformer, the integer-float layers. Eq. 19 prints
``E_MAC · FLOP_1`` without T, but the authors' released script (syops-counter,
``Nmac = 0.347 G = 4 × 86.7 M`` for Spikingformer-8-512) charges the encoder at every
step; snnc does the same, so both methods agree on the encoder. A spike @ spike matmul's
rate is ``min(fr_a, fr_b)`` (that script's SSA rule), a count input charged as ACs uses
its mean value (k ACs per k).

``ann_energy``: E_MAC · FLOPs at T = 1, the FLOPs of every synaptic layer and dynamic
matmul (:func:`ann_flops`) — the "ANN" column and the energy ratio of ECMT Tables 1-2.
"""

from __future__ import annotations

from dataclasses import dataclass

from snnc.backends.energy.models import EnergyModel
from snnc.ir.graph import Graph
from snnc.ir.registry import SYNAPTIC, get

METHODS = ("measured", "theoretical")


@dataclass
class LayerEnergy:
    """One layer's operations and energy per sample (``None``: the model cannot price it)."""

    name: str
    acs: float
    macs: float
    ac_pj: float
    mac_pj: float | None
    neuron_pj: float = 0.0

    @property
    def energy_pj(self) -> float | None:
        if self.mac_pj is None:
            return None if self.macs else self.ac_pj + self.neuron_pj
        return self.ac_pj + self.mac_pj + self.neuron_pj


def _price(model: EnergyModel, name: str, acs: float, macs: float, neuron_pj: float = 0.0) -> LayerEnergy:
    mac_pj = None if model.e_mac_pj is None else macs * model.e_mac_pj
    if model.e_mac_pj is None and not macs:
        mac_pj = 0.0
    return LayerEnergy(name, acs, macs, acs * model.e_ac_pj, mac_pj, neuron_pj)


def measured(result, model: EnergyModel) -> dict[str, LayerEnergy]:
    """Per-layer energy of a :class:`~snnc.backends.sim.SimResult`'s counts, per sample."""
    out = {}
    for s in result.layers.values():
        if s.role in ("si_exp", "si_norm"):      # conversion overhead: the report's full count
            continue
        if s.role == "neuron":
            spikes, updates = s.spikes, s.neuron_updates
            pj = (model.e_neuron_inactive_pj * (updates - spikes) + model.e_neuron_active_pj * spikes
                  + model.e_spike_pj * spikes)
            out[s.name] = _price(model, s.name, 0.0, 0.0, pj)
        else:
            out[s.name] = _price(model, s.name, s.acs, s.macs)
    return out


def theoretical(result, model: EnergyModel) -> dict[str, LayerEnergy]:
    """Per-layer energy by Spikingformer Eq. 18-19 from FLOPs and measured firing rates
    (a spiking matmul by ECMT Eq. 13-14: the ACs bound and the MACs at those rates)."""
    out = {}
    for s in result.synaptic():
        steps = s.steps
        charged_as_ac = s.input_class == "spike" or (s.input_class == "count" and s.integer_as == "acs")
        if s.role == "spiking_matmul" and s.input_class == "spike":
            # ECMT: Eq. 13's ACs bound and Eq. 14's MACs at the measured firing rates
            out[s.name] = _price(model, s.name, s.per_sample(s.bound), s.macs)
        elif charged_as_ac:
            out[s.name] = _price(model, s.name, s.sop_rate * steps * s.flops, 0.0)
        elif s.input_class == "count":           # integer-float: nonzero inputs times fan-out, as MACs
            out[s.name] = _price(model, s.name, 0.0, s.firing_rate * steps * s.flops)
        else:
            out[s.name] = _price(model, s.name, 0.0, steps * s.flops)
    return out


def ann_flops(graph: Graph) -> int:
    """MACs of one dense evaluation of every synaptic layer and dynamic matmul, one sample,
    one step: the ANN of the same architecture (BatchNorm folded, activations free)."""
    total = 0
    for node in graph.nodes:
        opdef = get(node.op)
        if opdef.has(SYNAPTIC) or node.op in ("matmul", "spiking_matmul"):
            total += int(opdef.flops(node, graph.ins(node), graph.outs(node)))
    return total


def ann_energy(flops: int, model: EnergyModel) -> float | None:
    """E_MAC × FLOPs (pJ), or None when the model has no multiply."""
    return None if model.e_mac_pj is None else flops * model.e_mac_pj


def total(layers: dict[str, LayerEnergy], attr: str = "energy_pj") -> float | None:
    values = [getattr(e, attr) for e in layers.values()]
    return None if any(v is None for v in values) else float(sum(values))
