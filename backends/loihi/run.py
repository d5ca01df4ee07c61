"""Run a quantised graph: host nodes in numpy, the chip region on one of two engines.

    r = run_loihi(q, {"x": x}, engine="sim")    # the loihi numerics in numpy (the registry)
    r = run_loihi(q, {"x": x}, engine="lava")   # the same chip region on Lava (fixed_pt)
    r.values["conv1_lif"]                       # every chip layer's spikes, [T, N, ...]
    r.outputs                                   # the graph outputs

Both engines see the same sources (what the host computes before the chip) and return
the same probes (every neuron layer, every value the host reads back), so comparing them
is comparing Lava with snnc's reference semantics, layer by layer. Host nodes between
chip layers run inside the chip region on both: in step with it on ``sim``, as CPU
processes inside the run on ``lava`` (:mod:`snnc.backends.loihi.host`); their neurons
are returned beside the chip's.

``align=True`` undoes the synaptic delay for comparisons with the float graph: the
sources get ``D`` more steps of zeros (D = the deepest probe's lag), each probed value
``v`` is cut to ``v[lag : lag + T]`` (what the float graph's step t corresponds to), and
the host nodes after the chip run on those cuts. Causality makes this exact: the padding
only reaches steps that are cut away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.backends.loihi.chip import ALIASES, CHIP_NEURONS, ChipPlan, plan
from snnc.backends.loihi.latency import latency
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.ir.graph import Graph
from snnc.ir.interpret import Interpreter, record

ENGINES = ("sim", "lava")


@dataclass
class LoihiRun:
    values: dict[str, np.ndarray]             # probed chip values and host neurons in the run, [T, N, *shape]
    outputs: dict[str, np.ndarray]            # graph outputs
    lag: dict[str, int] = field(default_factory=dict)   # steps each probe lags the float graph
    engine: str = "sim"
    aligned: bool = False
    lava_runs: int = 0
    seconds: float = 0.0                      # time spent in the chip engine
    raw: dict[str, np.ndarray] = field(default_factory=dict)   # uncut probes (with align)


def _run_nodes(interp: Interpreter, nodes, env: dict) -> None:
    for node in nodes:
        env.update(zip(node.outputs, interp.run_node(node, [env[v] for v in node.inputs])))


def run_chip_sim(p: ChipPlan, sources: dict[str, np.ndarray], trace: bool = False) -> dict[str, np.ndarray]:
    """The chip region by the registry's numpy semantics (the simulator's loihi numerics);
    ``trace``: every value it computes, not only the probes."""
    interp = Interpreter(p.graph)
    interp.timesteps, interp.batch = sources[p.sources[0]].shape[:2]
    env = dict(sources)
    _run_nodes(interp, p.chip, env)           # chip layers and the host nodes between them
    if trace:
        return {v: env[v] for n in p.chip for v in n.outputs}
    return {v: env[v] for v in p.probes + p.host_saves}


def _host_before(graph: Graph, inputs: dict[str, np.ndarray]):
    """The plan, an interpreter, and the values once the host has run what precedes the chip."""
    p = plan(graph)
    if not p.chip:
        raise SnncError(f"graph {graph.name!r} has no Loihi layers; quantize it first "
                        "(snnc.backends.loihi.quantize.quantize)")
    interp = Interpreter(graph)
    env = interp.bind_inputs(inputs)
    _run_nodes(interp, p.before, env)
    for value in p.sources:
        if not graph.values[value].timed:
            raise SnncError(f"{value!r} feeds the chip but has no time axis; give it [T, N, ...] steps")
    if not p.sources:
        raise SnncError(f"graph {graph.name!r}: the chip reads no input")
    return p, interp, env


def chip_sources(graph: Graph, inputs: dict[str, np.ndarray]) -> tuple[ChipPlan, dict[str, np.ndarray]]:
    """The chip plan of ``graph`` and what its sources inject for ``inputs`` ([T, N, ...]),
    with the values from before the chip that its host nodes read."""
    p, _, env = _host_before(graph, inputs)
    return p, {v: env[v] for v in p.sources + p.host_inputs}


def run_loihi(graph: Graph, inputs: dict[str, np.ndarray], *, engine: str = "sim", align: bool = False,
              max_batch: int = 16, timeout: float = 600.0, trace: bool = False) -> LoihiRun:
    """Run quantised ``graph`` on ``inputs`` with the chip region on ``engine`` (module doc);
    Lava runs take ``max_batch`` samples at most each and fail past ``timeout`` seconds.
    ``trace`` (sim only): ``values`` holds every value the chip region computes, the host
    values in the run included (each cut at its lag with ``align``), and those before and after it."""
    import time

    if engine not in ENGINES:
        raise SnncError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if trace and engine != "sim":
        raise SnncError("trace=True records the simulator's values; Lava's are its probes only")
    if engine == "sim" and not align and not trace and not _one_piece(graph):
        return _run_whole(graph, inputs)
    if _no_chip(graph):         # all on the host (no synaptic layer): nothing for an engine to run
        return _run_whole(graph, inputs)
    p, interp, env = _host_before(graph, inputs)
    steps = env[p.sources[0]].shape[0]
    lag = {v: d for v, d in latency(graph).items() if v in p.probes or v in p.host_saves
           or trace and graph.values[v].axes == "TN"}
    pad = max(lag.values(), default=0) if align else 0
    sources = {v: _padded(graph, v, env[v], pad) for v in p.sources + p.host_inputs}
    start = time.perf_counter()
    lava_runs = 0
    if engine == "lava":
        from snnc.backends.loihi.lava_lower import run_chip

        result = run_chip(p, sources, max_batch=max_batch, timeout=timeout)
        values, lava_runs = result.values, result.runs
    else:
        values = run_chip_sim(p, sources, trace)
    seconds = time.perf_counter() - start
    raw = values
    if align:
        values = {v: a[lag[v]:lag[v] + steps] if v in lag else a for v, a in values.items()}
    interp.timesteps = steps
    env.update(values)
    host = set(p.host)
    for node in p.chip:                      # reshapes of read-back values, for the host
        if node.op in ALIASES and node.name not in host and node.inputs[0] in env:
            _run_nodes(interp, [node], env)
    _run_nodes(interp, p.after, env)
    if trace:       # the host's values before the chip (lag 0: as they were) and after it
        values = {**{v: env[v] for n in p.before for v in n.outputs}, **values,
                  **{v: env[v] for n in p.after for v in n.outputs}}
    missing = [o for o in graph.outputs if o not in env]
    if missing:
        raise SnncError(f"graph outputs {missing} are computed on the chip but not read back")
    return LoihiRun(values, {o: env[o] for o in graph.outputs}, lag, engine, align, lava_runs, seconds, raw)


def _padded(graph: Graph, value: str, a: np.ndarray, pad: int) -> np.ndarray:
    """``a`` with ``pad`` zero steps more (a timed value; others as they are)."""
    if not pad or graph.values[value].axes != "TN":
        return a
    return np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)])


def _one_piece(graph: Graph) -> bool:
    """Whether the chip region runs in one go (no host op between two chip layers)."""
    try:
        plan(graph)
    except UnsupportedError:
        return False
    return True


def _no_chip(graph: Graph) -> bool:
    """Whether the program has no chip layer (a model of neurons or host ops only)."""
    try:
        return not plan(graph).chip
    except UnsupportedError:
        return False


def _run_whole(graph: Graph, inputs: dict[str, np.ndarray]) -> LoihiRun:
    """The simulator's loihi numerics on a program whose host ops sit between chip layers
    (a Spikingformer's residual stream): the whole graph in step, no chip/host split."""
    import time

    start = time.perf_counter()
    values = record(graph, inputs)
    probes = {n.outputs[0]: values[n.outputs[0]] for n in graph.nodes if n.op in CHIP_NEURONS}
    lag = {v: d for v, d in latency(graph).items() if v in probes}
    outputs = {o: (values[o] if o in values else inputs[o]) for o in graph.outputs}
    return LoihiRun(probes, outputs, lag, "sim", False, 0, time.perf_counter() - start)


def run_lava(graph: Graph, inputs: dict[str, np.ndarray], **kwargs) -> LoihiRun:
    """:func:`run_loihi` with the chip on Lava: every layer's spike trains as Lava made them."""
    return run_loihi(graph, inputs, engine="lava", **kwargs)
