"""The IR interpreter: runs a graph on numpy arrays with each op's reference semantics.

It walks the nodes in topological order, layer by layer over the whole time axis
(for a feed-forward graph the same result as step by step), dispatching each node to
its registry entry. Arrays live in the run-time layout of their value's ``axes``:
``[T, N, *shape]`` (timed), ``[N, *shape]`` (per sample), ``[*shape]`` (constant).

Analyses subclass :class:`Interpreter` and override :meth:`run_node` (as torch.fx's
``ShapeProp`` does); the simulator's counters are such a subclass.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.printer import node_str
from snnc.ir.registry import TEMPORAL, get


class InterpreterError(RuntimeError):
    """A node failed while executing; the message shows it in IR syntax."""


class Interpreter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.timesteps: int | None = None
        self.batch: int | None = None

    # -- the loop -------------------------------------------------------------
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on ``inputs`` (by graph input name) and return every graph output."""
        env = self.bind_inputs(inputs)
        for node in self.graph.nodes:
            args = [env[v] for v in node.inputs]
            try:
                outs = self.run_node(node, args)
            except (SnncError, InterpreterError):
                raise
            except Exception as err:
                raise InterpreterError(f"{type(err).__name__}: {err}\n  while executing "
                                       f"{node_str(self.graph, node)}") from err
            for name, array in zip(node.outputs, outs):
                env[name] = array
            self.release(env, node)
        return {name: env[name] for name in self.graph.outputs}

    def release(self, env: dict, node: Node) -> None:
        """Hook to free arrays no longer needed (the simulator drops them to save memory)."""

    def bind_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = {}
        for name in self.graph.inputs:
            if name not in inputs:
                raise SnncError(f"missing input {name!r}; the graph takes {self.graph.inputs}")
            value = self.graph.values[name]
            array = np.asarray(inputs[name])
            lead = {"TN": 2, "N": 1, "": 0}[value.axes]
            if array.ndim != len(value.shape) + lead or tuple(array.shape[lead:]) != value.shape:
                want = {"TN": "[T, N, ", "N": "[N, ", "": "["}[value.axes] + ", ".join(map(str, value.shape)) + "]"
                raise SnncError(f"input {name!r} has shape {list(array.shape)}; expected {want}")
            if lead:
                self._note(batch=array.shape[lead - 1], timesteps=array.shape[0] if lead == 2 else None)
            env[name] = array.astype(value.dtype, copy=False)
        for name in inputs:
            if name not in self.graph.inputs:
                raise SnncError(f"unknown input {name!r}; the graph takes {self.graph.inputs}")
        return env

    def _note(self, batch=None, timesteps=None):
        for attr, val in (("batch", batch), ("timesteps", timesteps)):
            if val is None:
                continue
            have = getattr(self, attr)
            if have is not None and have != val:
                raise SnncError(f"inputs disagree on the {'batch size' if attr == 'batch' else 'time steps'}: "
                                f"{have} and {val}")
            setattr(self, attr, val)

    # -- one node ---------------------------------------------------------------
    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        """Evaluate one node from its inputs in run-time layout; returns its outputs."""
        opdef = get(node.op)
        ins, outs = self.graph.ins(node), self.graph.outs(node)
        if opdef.has(TEMPORAL):
            results = opdef.run(node, args)
            if node.op == "repeat_time":
                self._note(timesteps=node.attrs["timesteps"])
            return results
        folded = [self.to_batch(a, v, outs[0].axes) for a, v in zip(args, ins)]
        results = opdef.run(node, folded)
        return [self.from_batch(r, v) for r, v in zip(results, outs)]

    def to_batch(self, array: np.ndarray, value: Value, node_axes: str) -> np.ndarray:
        """Run-time layout -> ``[B, *shape]`` for a stateless op whose outputs have ``node_axes``."""
        if value.axes == "":
            return array[None]
        if value.axes == "TN":
            return array.reshape(-1, *value.shape)
        if node_axes == "TN":   # a per-sample value read at every step
            return np.broadcast_to(array[None], (self.timesteps, *array.shape)).reshape(-1, *value.shape)
        return array

    def from_batch(self, array: np.ndarray, value: Value) -> np.ndarray:
        if value.axes == "":
            return array[0]
        if value.axes == "TN":
            return array.reshape(self.timesteps, -1, *value.shape)
        return array


class Recorder(Interpreter):
    """The interpreter, keeping every value it computes (``recorder.values``)."""

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.values: dict[str, np.ndarray] = {}
        return super().run(inputs)

    def run_node(self, node: Node, args: list[np.ndarray]) -> list[np.ndarray]:
        outs = super().run_node(node, args)
        self.values.update(zip(node.outputs, outs))
        return outs


def record(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every value ``graph`` computes on ``inputs`` (not the inputs), by name."""
    recorder = Recorder(graph)
    recorder.run(inputs)
    return recorder.values


def run(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``inputs`` with the registry's numpy reference semantics."""
    return Interpreter(graph).run(inputs)
