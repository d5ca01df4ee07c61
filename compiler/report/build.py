"""The energy / op-count report as plain data (what ``--format json`` prints).

    report = build_report(graph, sim_result, load_model("45nm"))
    report["total"]["energy_ratio"], report["layers"][0]["acs"]

``layers`` lists every synaptic layer and dynamic matmul in graph order with ``name, op,
input_kind, firing_rate`` (of its input), ``flops`` (dense MACs per sample per step),
``acs, macs`` (measured, per sample), ``energy_pj`` (measured), the theoretical
figures and the per-step counts; ``neurons`` every spiking neuron layer;
``per_timestep`` the per-step totals;
``total`` the sums, the ANN-equivalent energy (E_MAC × FLOPs at T = 1) and the
SNN / ANN energy ratio for both methods. Energies are per sample, in pJ.
"""

from __future__ import annotations

from snnc import __version__
from snnc.backends import energy
from snnc.backends.sim import SimResult
from snnc.ir.graph import Graph
from snnc.report.ecmt import conversion_cost


def _ratio(a, b):
    return None if a is None or not b else a / b


def build_report(graph: Graph, result: SimResult, model: energy.EnergyModel) -> dict:
    """The report of one simulation under one energy model (both methods)."""
    meas = energy.measured(result, model)
    theo = energy.theoretical(result, model)
    layers = []
    for s in result.synaptic():
        m, t = meas[s.name], theo[s.name]
        layers.append({
            "name": s.name, "op": s.op, "input_kind": s.input_kind, "charged_as": _charged(s),
            "firing_rate": s.firing_rate, "flops": s.flops, "steps": s.steps,
            "acs": s.acs, "macs": s.macs, "energy_pj": m.energy_pj,
            "ac_energy_pj": m.ac_pj, "mac_energy_pj": m.mac_pj,
            "theoretical_acs": t.acs, "theoretical_macs": t.macs, "theoretical_energy_pj": t.energy_pj,
            "fanout_exact": s.fanout_exact,
            "ac_bound": s.per_sample(s.bound) if s.role == "spiking_matmul" else None,   # ECMT Eq. 13
            "spikes_in_per_step": _per_sample(s, s.nonzero_in),
            "acs_per_step": _per_sample(s, s.acs_per_step), "macs_per_step": _per_sample(s, s.macs_per_step),
        })
    neurons = []
    for s in result.neurons():
        neurons.append({"name": s.name, "op": s.op, "neurons": s.out_size, "firing_rate": s.firing_rate,
                        "spikes": s.spikes, "updates": s.neuron_updates, "energy_pj": meas[s.name].energy_pj,
                        "spikes_per_step": _per_sample(s, s.spikes_out)})
    steps = []
    acs, macs, spikes = (result.per_step(a) for a in ("acs_per_step", "macs_per_step", "spikes_out"))
    for t in range(len(acs)):
        steps.append({"t": t, "acs": float(acs[t]), "macs": float(macs[t]), "spikes": float(spikes[t])})
    # a converted SNN names its ANN's MACs; otherwise the ANN of the same layers
    flops = graph.meta.get("ann_macs") or energy.ann_flops(graph)
    ann_pj = energy.ann_energy(flops, model)
    snn_pj, theo_pj = energy.total(meas), energy.total(theo)
    ecmt = conversion_cost(graph, result.timesteps, model, snn_pj, ann_pj, result)
    return {
        "snnc_version": __version__,
        "model": graph.name,
        "samples": result.samples,
        "timesteps": result.timesteps,
        "numerics": result.numerics,
        "integer_as": next(iter(result.layers.values())).integer_as if result.layers else "macs",
        "energy_model": model.to_dict(),
        "layers": layers,
        "neurons": neurons,
        "per_timestep": steps,
        "total": {
            "acs": result.total("acs"), "macs": result.total("macs"),
            "spikes": result.total("spikes"), "neuron_updates": result.total("neuron_updates"),
            "firing_rate": _ratio(result.total("spikes"), result.total("neuron_updates")),
            "flops": flops,
            "energy_pj": snn_pj,
            "ac_energy_pj": energy.total(meas, "ac_pj"), "mac_energy_pj": energy.total(meas, "mac_pj"),
            "neuron_energy_pj": energy.total(meas, "neuron_pj"),
            "theoretical_acs": float(sum(e.acs for e in theo.values())),
            "theoretical_macs": float(sum(e.macs for e in theo.values())),
            "theoretical_energy_pj": theo_pj,
            "ann_energy_pj": ann_pj,
            "energy_ratio": _ratio(snn_pj, ann_pj),
            "theoretical_energy_ratio": _ratio(theo_pj, ann_pj),
        },
        **({"ecmt_overhead": ecmt} if ecmt is not None else {}),
    }


def _per_sample(stats, array) -> list[float]:
    """A per-step array of sums over samples, per sample (one entry outside time)."""
    return [float(v) / max(stats.samples, 1) for v in array]


def _charged(stats) -> str:
    """How the layer's input is charged: AC, MAC (dense), or MAC (integer-float)."""
    if stats.role == "spiking_matmul" and stats.input_class == "spike":
        return "AC+MAC (ECMT Eq. 12-14)"
    if stats.input_class == "spike":
        return "AC"
    if stats.input_class == "count":
        return "AC (k per k)" if stats.integer_as == "acs" else "MAC (integer-float)"
    return "MAC"
