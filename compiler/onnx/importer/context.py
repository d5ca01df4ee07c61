"""What a converter sees: the probes, the layouts, and the IR graph being built.

Converters (one per ONNX op type, in ``convert_*.py``) read their ONNX node through a
:class:`Context` and add IR nodes with :meth:`Context.emit`. Tensors are referred to by
their ONNX names; the context maps each to the IR value that carries it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import helper

from snnc.ir.build import emit
from snnc.ir.errors import IRError, UnsupportedError
from snnc.ir.graph import Graph
from snnc.onnx.importer.layout import Layout, Sizes, carried, classify, constant_layout, readings
from snnc.onnx.importer.probe import CONST, DATA, Probe, node_label

Converter = Callable[["Context", onnx.NodeProto], None]
CONVERTERS: dict[tuple[str, str], Converter] = {}


def converter(*op_types: str, domain: str = "") -> Callable[[Converter], Converter]:
    """Register a function as the converter of ONNX ``op_types`` (in ``domain``)."""

    def register(fn: Converter) -> Converter:
        for op_type in op_types:
            CONVERTERS[(domain, op_type)] = fn
        return fn

    return register


class Context:
    def __init__(self, graph: Graph, probes: list[Probe], sizes: list[Sizes], timesteps: int | None,
                 opset: int):
        self.graph = graph
        self.opset = opset                # the file's default-domain opset
        self.probes = probes
        self.sizes = sizes
        self.timesteps = timesteps        # T when it is a constant of the file
        self.ir: dict[str, str] = {}      # ONNX tensor -> IR value
        self._layouts: dict[str, Layout] = {}
        self._consts: dict[str, str] = {}
        self.node: onnx.NodeProto | None = None
        self.aliases: dict[str, str] = {}  # ONNX tensors that are another tensor per sample
        self.created: list[str] = []       # IR nodes made for the current ONNX node

    # -- reading the ONNX node ------------------------------------------------------
    def attr(self, name: str, default=None):
        for a in self.node.attribute:
            if a.name == name:
                value = helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def fail(self, reason: str) -> UnsupportedError:
        """An error about the current node: raise ``ctx.fail("why")``."""
        return UnsupportedError(f"{node_label(self.node)}: {reason}")

    def status(self, tensor: str) -> str:
        return self.probes[0].status[tensor]

    def is_data(self, tensor: str) -> bool:
        return bool(tensor) and self.status(tensor) == DATA

    def const(self, tensor: str) -> np.ndarray:
        """The value of an input that the file fixes (an initializer or folded constant)."""
        if not tensor:
            raise self.fail("a required input is missing")
        if self.status(tensor) == DATA:
            raise self.fail(f"input {tensor!r} must be a constant here, but it depends on the network's input")
        if self.status(tensor) == CONST:
            return self.probes[0].values[tensor]      # the same array in every probe
        values = [p.values[tensor] for p in self.probes]
        if any(v.shape != values[0].shape or not np.array_equal(v, values[0]) for v in values[1:]):
            raise self.fail(f"input {tensor!r} depends on the batch size or the number of time steps, "
                            "which snnc lifts only through reshapes")
        return values[0]

    def optional_const(self, tensor: str | None, default=None):
        return default if not tensor else self.const(tensor)

    def probe_values(self, tensor: str) -> list[np.ndarray]:
        """A SHAPE/CONST input's value at every probe (e.g. a reshape target)."""
        return [p.values[tensor] for p in self.probes]

    def shapes(self, tensor: str) -> list[tuple[int, ...]]:
        return [p.shapes[tensor] for p in self.probes]

    def layout(self, tensor: str) -> Layout:
        """The batch layout and per-sample shape of a tensor (see :mod:`.layout`)."""
        if tensor in self._layouts:
            return self._layouts[tensor]
        if self.status(tensor) != DATA:
            return constant_layout(self.probes[0].shapes[tensor])
        sizes = self._sizes()
        found = classify(self.shapes(tensor), sizes, self._hints(tensor))
        if found is None:
            shapes = " and ".join(str(list(s)) for s in self.shapes(tensor))
            raise self.fail(f"output {tensor!r} has shapes {shapes} at (T, N) = "
                            f"{', '.join(f'({s.T}, {s.N})' for s in sizes)}: its leading axes are not "
                            "[T, N], [T*N] or [N], or a later axis depends on T or N")
        self._layouts[tensor] = found
        return found

    def _hints(self, tensor: str) -> list[Layout]:
        """The layouts of the current node's network inputs, when ``tensor`` is one of its
        outputs: an op that keeps the batch block where it was (elementwise, Split, Slice,
        Softmax…) keeps its reading, so ``[1, N, h, L, d]`` split off ``[3, N, h, L, d]``
        stays batch-second rather than reading as a unit time axis."""
        if self.node is None or tensor not in self.node.output:
            return []
        return [self._layouts[i] for i in self.node.input if i in self._layouts and self.is_data(i)]

    def carry(self, tensor: str, src: str, source: list[int | None]) -> None:
        """Output ``tensor``'s axis ``j`` is input ``src``'s axis ``source[j]`` (None: new):
        its batch block sits where those axes put it (:func:`.layout.carried`), not where
        its shapes read it; where that cannot be told, the shapes decide."""
        if tensor in self._layouts or not self.is_data(tensor) or not self.is_data(src):
            return
        found = carried(self.layout(src), source, self.shapes(tensor), self._sizes())
        if found is not None:
            self._layouts[tensor] = found

    def readings(self, tensor: str) -> list[Layout]:
        """Every layout ``tensor``'s shapes allow, the one :meth:`layout` reads first."""
        return list(readings(self.shapes(tensor), self._sizes(), self._hints(tensor)))

    def set_layout(self, tensor: str, layout: Layout) -> None:
        self._layouts[tensor] = layout

    # -- building IR --------------------------------------------------------------------
    def value(self, tensor: str) -> str:
        """The IR value carrying ONNX tensor ``tensor`` (a constant becomes a constant node)."""
        if tensor in self.ir:
            return self.ir[tensor]
        if self.status(tensor) == DATA:
            raise self.fail(f"input {tensor!r} has no IR value yet (is the graph out of order?)")
        return self.constant(tensor, self.const(tensor))

    def constant(self, tensor: str, value: np.ndarray) -> str:
        if tensor not in self._consts:
            name = f"const:{tensor}"
            node = emit(self.graph, "constant", [], name=name, params={"value": np.asarray(value)}, source=tensor)
            self._consts[tensor] = node.outputs[0]
            self.created.append(name)
        return self._consts[tensor]

    def emit(self, op: str, inputs: list[str], *, attrs=None, params=None, output: str | None = None,
             suffix: str = "") -> str:
        """Add an IR node for the current ONNX node; ``inputs`` are IR value names. Its
        output carries ONNX tensor ``output`` (default: the node's first output)."""
        onnx_name = self.node.name or self.node.output[0]
        output = self.node.output[0] if output is None else output
        name = self.graph.fresh_name(onnx_name + suffix)
        try:
            node = emit(self.graph, op, inputs, name=name, attrs=attrs, params=params, source=onnx_name,
                        outputs=[self.graph.fresh_name(output or name)])
        except IRError as err:
            raise self.fail(str(err).split(": ", 1)[-1]) from err
        self.created.append(name)
        if output:
            self.bind(output, node.outputs[0])
        return node.outputs[0]

    def bind(self, tensor: str, value: str) -> None:
        """ONNX tensor ``tensor`` is carried by IR value ``value`` (checked against the probe)."""
        ir = self.graph.values[value]
        layout = self.layout(tensor)
        if ir.shape != layout.sample or ir.axes != layout.axes:
            raise self.fail(f"snnc computed {ir.axes or 'const'}{list(ir.shape)} for {tensor!r}, "
                            f"ONNX shape inference {layout.axes or 'const'}{list(layout.sample)}")
        self.ir[tensor] = value

    def alias(self, tensor: str, value: str) -> None:
        """``tensor`` is ``value`` per sample (a reshape that only folds T into N)."""
        self.bind(tensor, value)
        self.aliases[tensor] = value

    def operand(self, tensor: str, out: Layout) -> str:
        """An input of an op that broadcasts to a tensor of layout ``out``: a network value
        as is, or a constant without the axes that fall on the output's time/batch axes
        (they must be 1 there)."""
        if self.is_data(tensor):
            return self.value(tensor)
        values = self.probe_values(tensor)
        if self.status(tensor) == CONST or all(v.shape == values[0].shape and np.array_equal(v, values[0])
                                               for v in values[1:]):
            value = self.const(tensor)  # or computed from per-sample dims only (a ConstantOfShape)
            offset = out.full_rank - value.ndim          # numpy aligns shapes on the right
            drop = [j for j in range(value.ndim) if out.is_batch_axis(j + offset)]
            if out.merged:      # the merged axis is also a sample axis: broadcast along it
                if any(value.shape[j] != 1 for j in drop):
                    raise self.fail(f"constant {tensor!r} of shape {list(value.shape)} runs along the "
                                    f"batch-merged axis of {out.describe()}")
                drop = []
            for j in drop:      # a file with a fixed batch may hold a batch-sized constant
                first = np.take(value, [0], axis=j)
                if not np.array_equal(np.broadcast_to(first, value.shape), value):
                    raise self.fail(f"constant {tensor!r} of shape {list(value.shape)} differs between samples "
                                    f"(along the {'/'.join(out.batch)} axis)")
                value = first
            return self.constant(tensor, value.squeeze(axis=tuple(drop)) if drop else value)
        # computed from input shapes only, broadcast over the batch (an expanded class token)
        layout = classify(self.shapes(tensor), self._sizes())
        if layout is None or layout.axes not in ("N", "TN"):
            raise self.fail(f"input {tensor!r} is computed from the input's shape in a way snnc cannot lift")
        # the batch axes (N; or T and N, folded or not) first and as one: [samples, *sample]
        batch = list(range(layout.pos, layout.pos + layout.n_batch))
        per_sample = [np.moveaxis(v, batch, list(range(len(batch)))).reshape(-1, *layout.sample) for v in values]
        first = per_sample[0][0].reshape(layout.sample)
        if not all(np.all(v == v[:1]) for v in per_sample):
            raise self.fail(f"input {tensor!r} differs between samples; snnc supports per-sample constants only")
        return self.constant(tensor, first)

    def _sizes(self) -> list[Sizes]:
        return [Sizes(self.timesteps if s.T is None else s.T, s.N) for s in self.sizes]

    def sample_axis(self, tensor: str, axis: int) -> int:
        """An ONNX axis of ``tensor`` as a per-sample axis; fails on a time/batch axis."""
        layout = self.layout(tensor)
        rank = layout.full_rank
        if not -rank <= axis < rank:
            raise self.fail(f"axis {axis} is out of range for rank {rank}")
        axis %= rank
        if layout.is_batch_axis(axis):
            if layout.merged:
                raise self.fail(f"it works along axis {axis} of {layout.describe()}, which mixes the batch "
                                "with a per-sample axis; reshape the batch back out first")
            raise self.fail(f"it works across the {'/'.join(layout.batch)} axis (axis {axis}), which snnc "
                            "keeps implicit; only per-sample axes can be reduced, sliced or joined")
        return layout.to_sample(axis)

    def data_inputs(self) -> list[str]:
        return [i for i in self.node.input if self.is_data(i)]


def unsupported_ops(model: onnx.ModelProto) -> list[str]:
    """One line per node whose op has no converter."""
    lines = []
    for node in model.graph.node:
        if (node.domain if node.domain != "ai.onnx" else "", node.op_type) not in CONVERTERS:
            lines.append(f"{node_label(node)}: unsupported op")
    return lines

