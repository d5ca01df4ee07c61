"""The state of one IR -> ONNX lowering: the ONNX graph being built and, for every IR
value, the tensors that carry it in each layout.

Layouts of an ONNX tensor carrying an IR value (see :mod:`snnc.onnx.ir_to_onnx`):
``"TN"`` ``[T, N, *shape]``, ``"B"`` ``[T*N, *shape]`` (time folded into the batch, what
stateless ops read), ``"N"`` ``[N, *shape]``, ``"C"`` ``[*shape]`` (a constant). The per-op
lowerings (:mod:`snnc.onnx.op_lowerings`) add nodes through a :class:`Lowering`.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from snnc.ir.graph import Graph, Node, Value, first_free
from snnc.ir.query import timesteps as graph_timesteps

# layouts of an ONNX tensor carrying an IR value:
#   "TN" [T, N, *shape]   "B" [T*N, *shape]   "N" [N, *shape]   "C" [*shape] (a constant)
_NATURAL = {"TN": "TN", "N": "N", "": "C"}
_STATELESS = {"TN": "B", "N": "N", "": "C"}


def natural(value: Value) -> str:
    """The layout a value has as a graph input or output."""
    return _NATURAL[value.axes]


def stateless(value: Value) -> str:
    """The layout a stateless op reads and writes: time folded into the batch."""
    return _STATELESS[value.axes]


class Lowering:
    """The ONNX graph being built: nodes, initializers, and each IR value's tensors."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.prologue: list[onnx.NodeProto] = []     # shape arithmetic on the inputs
        self.body: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.taken: set[str] = set(graph.values)     # IR value names are reserved
        self.node_names: set[str] = set()
        self.tensors: dict[tuple[str, str], str] = {}  # (IR value, layout) -> ONNX tensor
        self.consts: dict[str, np.ndarray] = {}
        self.domains: set[str] = set()
        self.current = ""                            # ONNX name of the IR node being lowered
        self._cache: dict[tuple, str] = {}

    # -- names ------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        return _claim(base, self.taken)

    def _node_name(self, base: str) -> str:
        return _claim(base, self.node_names)

    # -- building ---------------------------------------------------------------------
    def add(self, op_type: str, inputs: list[str], *, out: str | None = None, domain: str = "",
            prologue: bool = False, name: str | None = None, **attrs) -> str:
        """Append an ONNX node; returns its (single) output tensor, ``out`` or a fresh name."""
        base = name or f"{self.current or ''}/{op_type}"
        out = out or self.fresh(f"{(self.current or op_type).strip('/').replace('/', '.')}.{op_type.lower()}")
        node = helper.make_node(op_type, inputs, [out], name=self._node_name(base), domain=domain or None,
                                **attrs)
        (self.prologue if prologue else self.body).append(node)
        if domain:
            self.domains.add(op_type)
        return out

    def init(self, array: np.ndarray, base: str) -> str:
        """An initializer holding ``array`` (deduplicated for small int64 shape vectors)."""
        array = np.asarray(array)
        key = None
        if array.dtype == np.int64 and array.size <= 16:
            key = ("init", array.shape, tuple(array.reshape(-1).tolist()))
            if key in self._cache:
                return self._cache[key]
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.array(array), name))
        if key is not None:
            self._cache[key] = name
        return name

    def ints(self, values, base: str = "shape") -> str:
        return self.init(np.asarray(list(values), dtype=np.int64), base)

    # -- IR values ----------------------------------------------------------------------
    def value(self, name: str) -> Value:
        return self.graph.values[name]

    def define(self, value: str, layout: str) -> str:
        """The tensor name a node producing ``value`` in ``layout`` writes to."""
        v = self.value(value)
        name = value if layout == natural(v) else self.fresh(f"{value}.{layout.lower()}")
        self.tensors[(value, layout)] = name
        return name

    def tensor(self, value: str, layout: str) -> str:
        """``value`` as an ONNX tensor in ``layout``, reshaping between [T, N] and [T*N]."""
        key = (value, layout)
        if key in self.tensors:
            return self.tensors[key]
        v = self.value(value)
        if v.axes == "":
            if layout != "C":
                raise AssertionError(f"constant {value!r} asked for in layout {layout}")
            return self._constant(value)
        if layout == "B" and (value, "TN") in self.tensors:
            src = self.tensors[(value, "TN")]
            shape = self.ints([-1, *v.shape])
        elif layout == "TN" and (value, "B") in self.tensors:
            src = self.tensors[(value, "B")]
            shape = self.tn_shape(v.shape)
        else:
            raise AssertionError(f"{value!r} ({v.axes}) has no tensor to make layout {layout} from")
        out = self.define(value, layout)
        self.add("Reshape", [src, shape], out=out, name=f"/{value}/{'Flatten' if layout == 'B' else 'Unflatten'}")
        return out

    def _constant(self, value: str) -> str:
        # named as the tensor it came from, so a re-import names it the same
        source = self.graph.producer(value).source if self.graph.producer(value).op == "constant" else ""
        name = self.fresh(source or (value + ".value" if value in self.graph.outputs else value))
        self.initializers.append(numpy_helper.from_array(np.array(self.consts[value]), name))
        self.tensors[(value, "C")] = name
        return name

    def arg(self, value: str) -> str:
        """An input of a stateless op: ``[T*N, ...]``, ``[N, ...]`` or a constant."""
        return self.tensor(value, stateless(self.value(value)))

    def emit(self, node: Node, op_type: str, inputs: list[str], *, layout: str | None = None,
             domain: str = "", **attrs) -> str:
        """The ONNX node computing ``node``'s output (in ``layout``, default stateless)."""
        out = node.outputs[0]
        layout = layout or stateless(self.value(out))
        return self.add(op_type, inputs, out=self.define(out, layout), domain=domain, name=self.current,
                        **attrs)

    # -- time and batch -----------------------------------------------------------------
    def _timed_input(self) -> str | None:
        return next((v for v in self.graph.inputs if self.value(v).timed), None)

    def timesteps(self) -> int | None:
        return graph_timesteps(self.graph)

    def t_shape(self) -> str:
        """``[T]`` (int64) at run time."""
        if "T" not in self._cache:
            x = self._timed_input()
            self._cache["T"] = self.add("Shape", [x], start=0, end=1, prologue=True, name="/time/Shape") \
                if x else self.ints([self.timesteps()], "timesteps")
        return self._cache["T"]

    def tn_shape(self, sample: tuple[int, ...]) -> str:
        """``[T, N, *sample]`` (int64) at run time."""
        key = ("TN", tuple(sample))
        if key not in self._cache:
            x = self._timed_input()
            if "TN" not in self._cache:
                if x:
                    tn = self.add("Shape", [x], start=0, end=2, prologue=True, name="/time_batch/Shape")
                else:
                    static = next(v for v in self.graph.inputs if self.value(v).axes == "N")
                    n = self.add("Shape", [static], start=0, end=1, prologue=True, name="/batch/Shape")
                    tn = self.add("Concat", [self.t_shape(), n], axis=0, prologue=True, name="/time_batch/Concat")
                self._cache["TN"] = tn
            self._cache[key] = self.add("Concat", [self._cache["TN"], self.ints(sample)], axis=0, prologue=True,
                                        name=f"/time_batch/Concat_{len(self._cache)}")
        return self._cache[key]

    def unsqueeze(self, tensor: str, axes: list[int]) -> str:
        return self.add("Unsqueeze", [tensor, self.ints(axes, "axes")]) if axes else tensor

    def broadcast_args(self, node: Node, rank: int) -> tuple[list[str], str]:
        """The inputs of a broadcasting op as tensors of rank ``lead + rank`` (1s inserted
        after the batch axes; constants stay as they are: ONNX aligns them on the right),
        and the op's layout: ``B``/``N`` (one batch axis), or ``TN`` where a per-step value
        meets a per-sample one (``[T, N, ...]`` against ``[1, N, ...]``)."""
        values = [self.value(v) for v in node.inputs]
        axes = {v.axes for v in values if v.axes}
        mixed = axes == {"TN", "N"}
        lead = 2 if mixed else 1
        layout = "TN" if mixed else ("B" if "TN" in axes else "N")
        tensors = []
        for v in values:
            if v.axes == "":
                tensors.append(self.tensor(v.name, "C"))
                continue
            if mixed:
                t = self.tensor(v.name, "TN") if v.timed else self.unsqueeze(self.tensor(v.name, "N"), [0])
            else:
                t = self.tensor(v.name, layout)
            tensors.append(self.unsqueeze(t, list(range(lead, lead + rank - len(v.shape)))))
        return tensors, layout


def _claim(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``…: the first not in ``taken`` (which it joins)."""
    name = first_free(base, taken.__contains__)
    taken.add(name)
    return name
