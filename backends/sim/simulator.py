"""The reference simulator: the IR interpreter, plus counting, batching and an optional
torch engine.

    from snnc.backends.sim import simulate
    result = simulate(graph, {"x": images}, timesteps=4)     # images [N, C, H, W] or [T, N, ...]
    result.outputs["head"], result.layers["block.0.mlp.fc1_conv"].acs

:class:`Simulator` *is* :class:`snnc.ir.interpret.Interpreter` (the issue's "grow this
interpreter, do not write a second one"): ``run_node`` evaluates a node with the
registry's numpy reference (or torch for convolutions and matrix products, when asked)
and then counts what the node did (:mod:`.counting`). ``run`` splits the inputs along the
batch axis N so that memory stays bounded — samples never interact, so the batches give
the same outputs and counts as one big run — and frees every array after its last use.
"""

from __future__ import annotations

import sys

import numpy as np

from snnc.backends.sim import counting
from snnc.backends.sim.stats import INTEGER_AS, SPIKE, LayerStats, SimResult, input_class
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph, Node
from snnc.ir.interpret import Interpreter
from snnc.ir.query import timesteps as graph_timesteps
from snnc.ir.limits import check_bytes, elements
from snnc.ir.registry import TEMPORAL, get

ENGINES = ("numpy", "torch")
#: bytes of live activations one batch may take when the batch size is chosen automatically
MEMORY_BUDGET = 1 << 30


class Simulator(Interpreter):
    """Runs ``graph`` on ``[T, N, ...]`` batches and counts, per layer and step, spikes,
    ACs, MACs and neuron updates (see :mod:`snnc.backends.sim.stats` for the rules).

    Args:
        engine: ``numpy`` (the registry's reference, default) or ``torch`` (convolutions,
            linear layers and matrix products through ``torch.nn.functional``).
        integer_as: how ``count(k)`` inputs of synaptic layers are charged: ``macs``
            (default) or ``acs`` (k ACs per synapse; Spikingformer App. F).
        count: count (default) or only run.
        record: value names whose full arrays to keep (``"neurons"``: every neuron output).
        progress: show a progress bar (tqdm, when installed) on stderr.
    """

    def __init__(self, graph: Graph, *, engine: str = "numpy", integer_as: str = "macs", count: bool = True,
                 record=(), progress: bool = False):
        super().__init__(graph)
        if engine not in ENGINES:
            raise SnncError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        if integer_as not in INTEGER_AS:
            raise SnncError(f"integer_as must be one of {', '.join(INTEGER_AS)}, got {integer_as!r}")
        self.engine = _torch_engine() if engine == "torch" else None
        self.integer_as = integer_as
        self.counting = count
        if record == "neurons":
            record = [o for n in graph.nodes if counting.role_of(n) == "neuron" for o in n.outputs]
        self.record = set(record)
        unknown = self.record - set(graph.values)
        if unknown:
            raise SnncError(f"cannot record {sorted(unknown)}: no such values in graph {graph.name!r}")
        self.progress = progress
        self._roles = {n.name: counting.role_of(n) for n in graph.nodes}
        self._fanouts: dict[str, tuple[np.ndarray, bool]] = {}
        self._last_use = _last_uses(graph)
        self._batch_stats: dict[str, LayerStats] = {}
        self._bar = None

    # -- the whole run ----------------------------------------------------------
    def simulate(self, inputs: dict[str, np.ndarray], batch_size: int | None = None) -> SimResult:
        """Run every sample of ``inputs`` in batches of ``batch_size`` (default: what fits in
        :data:`MEMORY_BUDGET`) and return outputs, recorded values and counts."""
        samples = self._samples(inputs)
        if batch_size is None:
            batch_size = self.auto_batch_size(inputs)
        if batch_size < 1:
            raise SnncError(f"batch size must be >= 1, got {batch_size}")
        self._check_memory(inputs, samples, batch_size)
        chunks = [(lo, min(lo + batch_size, samples)) for lo in range(0, samples, batch_size)]
        totals: dict[str, LayerStats] = {}
        outputs: dict[str, list] = {name: [] for name in self.graph.outputs}
        recorded: dict[str, list] = {name: [] for name in self.record}
        self._bar = progress_bar(len(chunks) * len(self.graph), self.progress)
        timesteps = None
        try:
            for lo, hi in chunks:
                self.timesteps = self.batch = None
                self._batch_stats, self._recorded = {}, {}
                outs = self.run({name: self._slice(name, arr, lo, hi) for name, arr in inputs.items()})
                timesteps = self.timesteps
                for name, arr in outs.items():
                    outputs[name].append(arr)
                for name, arr in self._recorded.items():
                    recorded[name].append(arr)
                for name, stats in self._batch_stats.items():
                    if name in totals:
                        totals[name].add(stats)
                    else:
                        totals[name] = stats
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        return SimResult(outputs={k: self._join(k, v) for k, v in outputs.items()},
                         layers={n.name: totals[n.name] for n in self.graph.nodes if n.name in totals},
                         samples=samples, timesteps=timesteps,
                         recorded={k: self._join(k, v) for k, v in recorded.items()})

    def _sizes(self, inputs: dict[str, np.ndarray]) -> tuple[int, int]:
        """(time steps, bytes of the largest activation of one sample over all steps)."""
        steps = max([a.shape[0] for n, a in inputs.items() if self.graph.values[n].timed] +
                    [graph_timesteps(self.graph) or 1])
        largest = max(elements(v.shape) * np.dtype(v.dtype).itemsize * (steps if v.timed else 1)
                      for v in self.graph.values.values())
        return steps, largest

    def _check_memory(self, inputs: dict[str, np.ndarray], samples: int, batch_size: int) -> None:
        """Refuse, with the figure, a run whose live activations (2 of the largest, one
        batch) plus the outputs kept for every sample exceed the free memory (issue 17)."""
        steps, largest = self._sizes(inputs)
        kept = sum(elements(self.graph.values[n].shape) * np.dtype(self.graph.values[n].dtype).itemsize *
                   (steps if self.graph.values[n].timed else 1) for n in set(self.graph.outputs) | self.record)
        check_bytes(2 * min(batch_size, samples) * largest + samples * kept,
                    f"simulating {samples} sample(s) over {steps} step(s)",
                    "use fewer samples, fewer time steps or a smaller input")

    def auto_batch_size(self, inputs: dict[str, np.ndarray]) -> int:
        """The batch size whose largest few activations fit in :data:`MEMORY_BUDGET`."""
        _, largest = self._sizes(inputs)
        # a conv's im2col copy is about kernel-size times its input: allow 8 live arrays of the largest
        return max(1, int(MEMORY_BUDGET // (8 * max(largest, 1))))

    def _samples(self, inputs) -> int:
        sizes = set()
        for name, arr in inputs.items():
            if name not in self.graph.values:
                raise SnncError(f"unknown input {name!r}; the graph takes {self.graph.inputs}")
            axes = self.graph.values[name].axes
            if axes:
                arr = np.asarray(arr)
                axis = 1 if axes == "TN" else 0
                if arr.ndim <= axis:
                    raise SnncError(f"input {name!r} has shape {list(arr.shape)}; it needs a batch axis")
                sizes.add(arr.shape[axis])
        if len(sizes) > 1:
            raise SnncError(f"inputs disagree on the batch size: {sorted(sizes)}")
        return sizes.pop() if sizes else 1

    def _slice(self, name, arr, lo, hi):
        axes = self.graph.values[name].axes
        arr = np.asarray(arr)
        return arr[:, lo:hi] if axes == "TN" else arr[lo:hi] if axes == "N" else arr

    def _join(self, name, parts):
        if not parts:
            return np.zeros(0)
        axes = self.graph.values[name].axes
        if axes == "" or len(parts) == 1:
            return parts[0]
        return np.concatenate(parts, axis=1 if axes == "TN" else 0)

    # -- one node -----------------------------------------------------------------
    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        opdef = get(node.op)
        if self.engine is not None and node.op in self.engine.OPS and not opdef.has(TEMPORAL):
            ins, outs_v = self.graph.ins(node), self.graph.outs(node)
            folded = [self.to_batch(a, v, outs_v[0].axes) for a, v in zip(args, ins)]
            outs = [self.from_batch(r, v) for r, v in zip(self.engine.run(node, folded), outs_v)]
        else:
            outs = super().run_node(node, args)
        if self.counting and self._roles[node.name] is not None:
            self._count(node, args, outs)
        for name, arr in zip(node.outputs, outs):
            if name in self.record:
                self._recorded[name] = np.array(arr, copy=True)
        return outs

    def release(self, env: dict, node: Node) -> None:
        """Drop every array whose last reader was ``node`` (graph outputs stay)."""
        for name in self._last_use.get(node.name, ()):
            env.pop(name, None)
        if self._bar is not None:
            self._bar.update(1)

    def _count(self, node: Node, args, outs) -> None:
        role = self._roles[node.name]
        ins, out_v = self.graph.ins(node), self.graph.outs(node)[0]
        timed = out_v.axes == "TN"
        steps = self.timesteps if timed else 1
        n = self.batch if self.batch is not None else 1
        stats = counting.new_stats(self.graph, node, role, steps, self.integer_as)
        if role == "neuron":
            counting.count_neuron(stats, outs[0].reshape(-1, *out_v.shape), n)
        elif role == "si_exp":               # stateless: the spike train of the folded input
            from snnc.ir.ops.sit import si_exp_spikes

            counting.count_si_exp(stats, si_exp_spikes(node, self.to_batch(args[0], ins[0], out_v.axes)), n)
        elif role == "si_norm":
            counting.count_dense(stats, n)
        elif role == "spiking_matmul":       # TEMPORAL: args are [T, N, ...]
            counting.count_spiking_matmul(stats, args[0], args[1], n)
        elif role == "matmul":
            folded = [self.to_batch(a, v, out_v.axes) for a, v in zip(args, ins)]
            counting.count_matmul(stats, folded[0], folded[1], [input_class(v.kind) for v in ins], n)
        else:
            if node.name not in self._fanouts:
                self._fanouts[node.name] = counting.fanout_of(self.graph, node)
            fanout, exact = self._fanouts[node.name]
            stats.fanout_exact = exact
            counting.count_synaptic(stats, self.to_batch(args[0], ins[0], out_v.axes), fanout, n)
        self._batch_stats[node.name] = stats


def _last_uses(graph: Graph) -> dict[str, list[str]]:
    """node name -> the values that no later node reads (graph outputs excluded)."""
    last = {}
    for node in graph.nodes:
        for name in node.inputs:
            last[name] = node.name
        for name in node.outputs:
            last.setdefault(name, node.name)       # written and never read: free at once
    keep = set(graph.outputs)
    out: dict[str, list[str]] = {}
    for name, reader in last.items():
        if name not in keep:
            out.setdefault(reader, []).append(name)
    return out


def progress_bar(total: int, enabled: bool, *, desc: str = "simulating", unit: str = "node"):
    """A tqdm bar on stderr (None when not asked for or tqdm is missing): call
    ``update(n)`` and ``close()``; it clears itself when done."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=unit, file=sys.stderr, desc=desc, leave=False)


def _torch_engine():
    from snnc.backends.sim import torch_engine

    return torch_engine.load()


def simulate(graph: Graph, inputs: dict[str, np.ndarray] | np.ndarray, *, timesteps: int | None = None,
             batch_size: int | None = None, engine: str = "numpy", integer_as: str = "macs",
             numerics: str = "float", record=(), progress: bool = False) -> SimResult:
    """Run ``graph`` on ``inputs`` and count (see :class:`Simulator`).

    ``inputs`` maps graph input names to arrays (a single array for a one-input graph). A
    timed input given as ``[N, ...]`` (a static image) is repeated over ``timesteps`` steps
    (default: the graph's recorded T, else 4); ``[T, N, ...]`` is used as is (events).
    ``numerics="loihi"`` says ``graph`` is a program in Loihi fixed point, made by the
    compiler's ``loihi-quantize`` pass (checked: a float graph is an error).
    """
    from snnc.backends.sim.inputs import shape_inputs
    from snnc.backends.sim.numerics import prepare

    feeds = shape_inputs(graph, inputs, timesteps)
    graph = prepare(graph, numerics)
    sim = Simulator(graph, engine=engine, integer_as=integer_as, record=record, progress=progress)
    result = sim.simulate(feeds, batch_size=batch_size)
    result.numerics = numerics
    return result


__all__ = ["ENGINES", "SPIKE", "Simulator", "simulate"]
