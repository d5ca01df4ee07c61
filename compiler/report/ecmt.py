"""ECMT's conversion overhead: what the energy ratio leaves out, and the ratio with it.

ECMT (supplement ``000_*``, Tables 1-2) prices synaptic layers and spiking matmuls only.
A converted network also runs, at every time step, the running means and deltas of
expectation compensation (Theorem 1) and the stateless f between them (LayerNorm, GELU,
softmax...), off the neurocores. This module charges them their registry FLOPs per step as
MACs, so a report can print both: ECMT's ratio (``total.energy_ratio``) and the full count.

SIT's Spiking-Softmax (``si_exp``, ``si_norm``) is overhead of the same sort and is charged
from the simulator's counts, as what it is: each SI-exp spike one AC (it adds d(t), SIT
Eq. 4), SI-norm's normalisation its FLOPs as MACs (Eq. 5, 10).
"""

from __future__ import annotations

from snnc.backends.energy import EnergyModel
from snnc.ir.graph import Graph
from snnc.ir.registry import get

#: ECMT's stateful analog ops (the spiking matmul is priced as a layer)
RUNNING_OPS = ("cum_mean", "delta")
#: SIT's Spiking-Softmax neurons, priced from the simulator's counts
SIT_OPS = ("si_exp", "si_norm")


def conversion_cost(graph: Graph, timesteps: int | None, model: EnergyModel, measured_pj: float | None,
                    ann_pj: float | None, result=None) -> dict | None:
    """Per sample: FLOPs of every cum_mean, delta and compensated op over all steps, their
    energy at E_MAC, SIT's Spiking-Softmax ACs and MACs (from ``result``, a SimResult), and
    the SNN / ANN ratio counting them; None without ECMT or SIT ops."""
    from snnc.check.analysis import Analysis

    if not any(n.op in RUNNING_OPS + SIT_OPS for n in graph.nodes):
        return None
    an = Analysis(graph)
    steps = timesteps or 1
    ops: dict[str, int] = {}
    flops = 0
    for node in graph.nodes:
        if node.op in SIT_OPS or (node.op not in RUNNING_OPS and not an.compensated(node)):
            continue
        per_step = int(get(node.op).flops(node, graph.ins(node), graph.outs(node)))
        runs = steps if graph.values[node.outputs[0]].axes == "TN" else 1
        flops += per_step * runs
        ops[node.op] = ops.get(node.op, 0) + 1
    sit_acs = result.sit_total("acs") if result is not None else 0.0
    sit_macs = result.sit_total("macs") if result is not None else 0.0
    sit_ops = {op: k for op in SIT_OPS if (k := sum(n.op == op for n in graph.nodes))}
    energy_pj = None if model.e_mac_pj is None else (flops + sit_macs) * model.e_mac_pj + sit_acs * model.e_ac_pj
    full = None if energy_pj is None or measured_pj is None else measured_pj + energy_pj
    return {"ops": ops, "flops": flops, "sit_ops": sit_ops, "sit_acs": sit_acs, "sit_macs": sit_macs, "energy_pj": energy_pj,
            "full_energy_pj": full, "full_energy_ratio": None if full is None or not ann_pj else full / ann_pj}
