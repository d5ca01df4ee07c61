"""``snnc compile``: from a model to a Loihi deployment, one plain step after another.

    c = compile_model(graph, "loihi2", inputs={"x": x})
    c.mapping.cores, c.timing.latency_s, c.report["deployment"]

1. check      spike verification of the imported model (its verdict goes in the report)
2. passes     the default pipeline (fold-bn, fold-scale, clean-up)
3. quantise   Loihi numerics, calibrated on the inputs (the ``loihi-quantize`` pass)
4. map        tiles onto cores under the target table, host partition (:mod:`…mapping`)
5. partition  one sub-layer per tile: the program each core runs (:mod:`…partition`)
6. simulate   the partitioned program, counting per tile (:mod:`snnc.backends.sim`)
7. time       per core and step, from those counts (:mod:`…timing`)
8. report     energy and ops (:mod:`snnc.report`), plus mapping, host partition, timing
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from snnc.backends import energy
from snnc.backends.loihi.mapping import Mapping, map_cores
from snnc.backends.loihi.netx import chain
from snnc.backends.loihi.partition import partition
from snnc.backends.loihi.latency import latency
from snnc.backends.loihi.quant_table import table_lines
from snnc.backends.loihi.targets import get_target
from snnc.backends.loihi.timing import Timing, core_timing
from snnc.backends.sim import shape_inputs
from snnc.backends.sim.simulator import Simulator
from snnc.check import check
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph
from snnc.passes import DEFAULT_PIPELINE, run_pipeline
from snnc.report import build_report


@dataclass
class Compilation:
    source: Graph                 # as imported
    graph: Graph                  # after the passes (float)
    program: Graph                # quantised (Loihi numerics)
    partitioned: Graph            # one sub-layer per tile
    mapping: Mapping
    check: object                 # snnc.check.CheckResult
    inputs_described: str
    timing: Timing | None = None
    result: object = None         # the simulator's SimResult on the partitioned program
    report: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    passes: list = field(default_factory=list)        # snnc.passes.PassLog per pass


def compile_model(graph: Graph, target: str = "loihi2", *, inputs: dict[str, np.ndarray] | None = None,
                  inputs_described: str = "", timesteps: int | None = None, passes: str = DEFAULT_PIPELINE,
                  simulate: bool = True, energy_model: str = "45nm", strict: bool = False) -> Compilation:
    """Compile ``graph`` for ``target`` (module docstring). ``inputs`` calibrate the
    quantiser and drive the simulation (default: one random sample)."""
    table = get_target(target)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    verdict = check(graph)
    if strict and verdict.exit_code:
        raise SnncError(f"snnc check found violations in {graph.name!r} and --strict is set; "
                        "run `snnc check` to see them")
    lap("check")
    pass_logs: list = []
    optimized = run_pipeline(graph, passes, logs=pass_logs)
    lap("passes")
    if inputs is None:
        from snnc.backends.sim import random_inputs

        inputs = random_inputs(optimized, 1)
        inputs_described = inputs_described or "1 random sample (uniform [0, 1))"
    feeds = shape_inputs(optimized, inputs, timesteps)
    program = run_pipeline(optimized, "loihi-quantize", options={"loihi-quantize": {"calibration": feeds}})
    lap("quantise")
    mapping = map_cores(program, table)
    if mapping.violations:
        raise SnncError(f"the mapping onto {table.name} breaks the core limits", problems=mapping.violations)
    partitioned = partition(program, mapping)
    lap("map")
    c = Compilation(graph, optimized, program, partitioned, mapping, verdict, inputs_described, seconds=seconds,
                    passes=pass_logs)
    if simulate:
        c.result = Simulator(partitioned).simulate(feeds)
        c.result.numerics = "loihi"
        fill = max(latency(program).values(), default=0)
        c.timing = core_timing(mapping, c.result, fill)
        lap("simulate")
        c.report = build_report(partitioned, c.result, energy.load_model(energy_model))
    c.report["deployment"] = deployment(c)
    lap("report")
    return c


def deployment(c: Compilation) -> dict:
    """The deployment section of ``report.json``: target, cores, host partition, timing."""
    m = c.mapping
    limits = m.target.limits()
    loads = {k: [core.load[k] for core in m.cores] for k in limits}
    netx_layers, netx_why = chain(c.program)
    steps = c.report.get("timesteps") or 1
    host_macs = sum(h.macs_per_step * (steps if h.steps == "T" else 1) for h in m.host)
    return {
        "target": m.target.to_dict(),
        "check": {"exit_code": c.check.exit_code, "summary": c.check.format().strip().splitlines()[-1],
                  "spike_driven_fraction": c.check.spike_driven_fraction},
        "cores": len(m.cores),
        "chips": m.chips,
        "utilisation": {k: {"max": max(v, default=0), "mean": float(np.mean(v)) if v else 0.0,
                            "limit": limits[k]} for k, v in loads.items()},
        "layers": [{"layer": name, "neuron": neuron,
                    "cores": sorted({core.index for core in m.cores for t in core.tiles if t.layer == name}),
                    "tiles": sum(1 for core in m.cores for t in core.tiles if t.layer == name)}
                   for name, neuron in m.layers.items()],
        "host": [h.to_dict() for h in m.host],
        "host_macs_per_sample": host_macs,
        "lava_run": lava_run(c.program),
        "timing": c.timing.to_dict() if c.timing is not None else None,
        "passes": [r.summary() for r in c.passes],
        "quantisation": table_lines(c.program),
        "netx": {"written": netx_layers is not None, "why_not": netx_why},
        "inputs": c.inputs_described,
        "seconds": c.seconds,
    }


def lava_run(program) -> dict:
    """How the program runs on Lava: chip ops, host nodes inside the run (each with why and
    its per-step traffic), and the host<->chip traffic per step and sample, in bits."""
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.host import host_table
    from snnc.ir.errors import UnsupportedError

    try:
        p = plan(program)
    except UnsupportedError as err:
        return {"runs": False, "why_not": [str(err), *err.problems]}
    rows = host_table(p)
    return {"runs": True, "chip_ops": len(p.chip) - len(p.host), "host_ops_in_run": len(p.host),
            "host_ops_before": len(p.before), "host_ops_after": len(p.after),
            "bits_to_host_per_step": sum(r["in_bits"] for r in rows),
            "bits_to_chip_per_step": sum(r["out_bits"] for r in rows), "host_in_run": rows}
