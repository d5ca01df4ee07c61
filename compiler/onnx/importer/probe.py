"""Probing: the concrete shape of every tensor, and the value of every constant, at one
choice of input shapes.

The importer removes the time and batch axes by running this at two concrete (T, N)
pairs: every dimension then reads as T, N, T·N or a constant, and the shape arithmetic
that PyTorch exporters write (``Shape -> Gather -> Concat -> Reshape``) folds to plain
numbers. Each tensor is one of

- ``CONST``: fixed by the file (initializers, Constant nodes, and what folds from them);
- ``SHAPE``: computed from input *shapes* only (it may differ between probes);
- ``DATA``: depends on input values: the network itself.

CONST and SHAPE tensors get values (numpy, folded here); DATA tensors get shapes (from
ONNX's own per-node shape inference, fed the folded values of its shape inputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx.checker
from onnx import defs, helper, numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

from snnc.ir.errors import SnncError
from snnc.onnx import dialect
from snnc.onnx.importer.resize import resize_inputs

CONST, SHAPE, DATA = "const", "shape", "data"

# inputs an op reads only for their type or shape: they never make the op part of the network
TYPE_ONLY_INPUTS = {"CastLike": {1}, "Shape": {0}, "Size": {0}}
# values bigger than this are never handed to ONNX shape inference as data (weights)
_DATA_LIMIT = 1 << 16
# shape errors a resized probe may backtrack over (ambiguous reshape targets) before giving up
MAX_RETRIES = 64


@dataclass
class Probe:
    """Shapes and folded values of one run (see module docstring)."""

    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    dtypes: dict[str, int] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)


def node_label(node: onnx.NodeProto) -> str:
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
    name = node.name or next((o for o in node.output if o), "") or "<unnamed>"
    return f"node {name!r} ({op})"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


class Prober:
    """Runs probes over one model; constants are folded once and shared by every probe."""

    def __init__(self, model: onnx.ModelProto, initializers: dict[str, np.ndarray],
                 nodes: list[onnx.NodeProto]):
        self.graph = model.graph
        self.nodes = nodes
        self.opsets = {o.domain or "": o.version for o in model.opset_import}
        self.opset_protos = [helper.make_opsetid(d, v) for d, v in self.opsets.items()]
        self.consts: dict[str, np.ndarray] = dict(initializers)
        self._folded = False
        self._resize: dict[int, int] = {}
        self._first = Probe()
        self._index = 0                 # the node being probed

    def run(self, input_shapes: dict[str, tuple[int, ...]], resize: dict[int, int] | None = None) -> Probe:
        """One probe. ``resize`` maps the file's fixed batch-like sizes (N, T, T*N) to this
        probe's: constants shaped by them are read at the probe's sizes (see :mod:`.resize`).
        Where a stale reshape target has several readings and the first leads to a shape
        error, the latest such reshape upstream of the error takes its next reading and
        the probe resumes there (at most :data:`MAX_RETRIES` times)."""
        probe = Probe()
        self._resize = dict(resize or {})
        if not resize:
            self._first = probe         # the shapes a resized probe compares with
        for name, value in self.consts.items():
            self._set_value(probe, name, value, CONST)
        for inp in self.graph.input:
            if inp.name in self.consts:
                continue            # an initializer listed as input (old exporters)
            probe.shapes[inp.name] = tuple(input_shapes[inp.name])
            probe.dtypes[inp.name] = inp.type.tensor_type.elem_type
            probe.status[inp.name] = DATA
        self._choices: dict[int, int] = {}      # node index -> the reading it takes
        self._readings: dict[int, int] = {}     # node index -> how many it has (> 1)
        k, retries, first_error = 0, 0, None
        while k < len(self.nodes):
            self._index = k
            try:
                self._run_node(probe, self.nodes[k])
            except SnncError as err:
                first_error = first_error or err
                back = self._backtrack(k) if retries < MAX_RETRIES else None
                if back is None:
                    raise first_error from None
                retries, k = retries + 1, back
                continue
            k += 1
        self._folded = True
        return probe

    def _backtrack(self, failed: int) -> int | None:
        """The latest reshape upstream of node ``failed`` with a reading left, set to it."""
        producer = {o: i for i, n in enumerate(self.nodes[:failed]) for o in n.output if o}
        upstream, stack = set(), [failed]
        while stack:
            for name in self.nodes[stack.pop()].input:
                i = producer.get(name)
                if i is not None and i not in upstream:
                    upstream.add(i)
                    stack.append(i)
        open_ = [i for i in upstream if self._choices.get(i, 0) + 1 < self._readings.get(i, 1)]
        if not open_:
            return None
        back = max(open_)
        self._choices = {i: c for i, c in self._choices.items() if i <= back}   # later ones start over
        self._choices[back] = self._choices.get(back, 0) + 1
        self._readings = {i: r for i, r in self._readings.items() if i <= back}
        return back

    # -- one node ---------------------------------------------------------------
    def _run_node(self, probe: Probe, node: onnx.NodeProto) -> None:
        ins = [i for i in node.input if i]
        standard = node.domain in ("", "ai.onnx")
        type_only = TYPE_ONLY_INPUTS.get(node.op_type, set()) if standard else set()
        status = {probe.status[i] for k, i in enumerate(node.input) if i and k not in type_only}
        if any(probe.status[node.input[k]] == SHAPE for k in type_only if k < len(node.input)):
            status.add(SHAPE)       # Shape(x) of a value computed from a shape varies with it (BERT's mask)
        if type_only and any(probe.status[node.input[k]] == DATA for k in type_only):
            if node.op_type in ("Shape", "Size"):
                shape = probe.shapes[ins[0]]
                value = np.array(shape[_attr(node, "start", 0):_attr(node, "end", None)], dtype=np.int64) \
                    if node.op_type == "Shape" else np.array(int(np.prod(shape)), dtype=np.int64)
                self._set_value(probe, node.output[0], value, SHAPE)
                return
            if DATA not in status:      # CastLike of a known value to a network value's type
                target = helper.tensor_dtype_to_np_dtype(probe.dtypes[node.input[1]])
                kind = SHAPE if SHAPE in status else CONST
                self._set_value(probe, node.output[0], probe.values[node.input[0]].astype(target), kind)
                if kind == CONST:
                    self.consts[node.output[0]] = probe.values[node.output[0]]
                return
        if DATA not in status and standard:
            if SHAPE not in status and self._folded:
                for out in node.output:    # folded by an earlier probe
                    if out:
                        self._set_value(probe, out, self.consts[out], CONST)
                return
            outs = self._evaluate(node, [probe.values[i] if i else None for i in node.input])
            kind = SHAPE if SHAPE in status else CONST
            for name, value in zip(node.output, outs):
                if name:
                    self._set_value(probe, name, value, kind)
                    if kind == CONST:
                        self.consts[name] = value
            return
        for name, (shape, dtype) in zip(node.output, self._infer(probe, node)):
            if name:
                probe.shapes[name], probe.dtypes[name], probe.status[name] = shape, dtype, DATA

    def _set_value(self, probe: Probe, name: str, value: np.ndarray, status: str) -> None:
        value = np.asarray(value)
        probe.values[name] = value
        probe.shapes[name] = tuple(value.shape)
        probe.dtypes[name] = helper.np_dtype_to_tensor_dtype(value.dtype)
        probe.status[name] = status

    def _evaluate(self, node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        """Fold a node whose inputs are all known, with onnx's reference implementation."""
        fast = _FAST.get(node.op_type)
        if fast is not None:
            try:
                return [np.asarray(fast(node, *inputs))]
            except _NotFast:
                pass
            except (ValueError, IndexError, TypeError) as err:     # numpy's word for a bad constant
                raise SnncError(f"{node_label(node)}: cannot fold its constant inputs "
                                f"({_first_line(err)}; input shapes "
                                f"{[list(np.shape(v)) for v in inputs if v is not None]})") from err
        feeds = {n: v for n, v in zip(node.input, inputs) if n}
        try:
            evaluator = ReferenceEvaluator(node, opsets=self.opsets)
            return [np.asarray(v) for v in evaluator.run(None, feeds)]
        except Exception as err:   # the reference raises anything; report it in one line
            raise SnncError(f"{node_label(node)}: cannot evaluate its constant inputs ({_first_line(err)})") from err

    def _infer(self, probe: Probe, node: onnx.NodeProto) -> list[tuple[tuple[int, ...], int]]:
        """Output shapes of a DATA node at this probe."""
        ins = [i for i in node.input if i]
        if node.domain == dialect.DOMAIN:
            # every snnc op maps [T, ...] to the same shape, but the spiking matrix product
            shape = dialect.output_shape(node.op_type, [probe.shapes[i] for i in ins])
            return [(shape, probe.dtypes[ins[0]])] * len(node.output)
        shapes = {i: probe.shapes[i] for i in ins}
        values = {i: probe.values[i] for i in ins if i in probe.values}
        if self._resize:
            choice = self._choices.get(self._index, 0)
            shapes, values, readings = resize_inputs(node, shapes, values, probe.status, self._first.shapes,
                                                     self._resize, choice)
            if readings > 1:
                self._readings[self._index] = readings
        types = {i: helper.make_tensor_type_proto(probe.dtypes[i], shapes[i]) for i in ins}
        data = {i: numpy_helper.from_array(v, i) for i, v in values.items() if v.size <= _DATA_LIMIT}
        try:
            schema = defs.get_schema(node.op_type, self.opsets.get(node.domain or "", 1), node.domain or "")
            out = shape_inference.infer_node_outputs(schema, node, types, data, opset_imports=self.opset_protos)
        except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError,
                KeyError) as err:
            kinds = [helper.tensor_dtype_to_np_dtype(probe.dtypes[i]).name if probe.dtypes[i] else "?" for i in ins]
            raise SnncError(f"{node_label(node)}: {_first_line(err)} (input types {kinds}, shapes "
                            f"{[list(probe.shapes[i]) for i in ins]})") from err
        results = []
        for name in node.output:
            t = out.get(name)
            if not name:
                results.append(((), 0))
                continue
            tt = t.tensor_type if t is not None else None
            if tt is None or not tt.HasField("shape") or any(not d.HasField("dim_value") for d in tt.shape.dim):
                raise SnncError(f"{node_label(node)}: the shape of output {name!r} cannot be "
                                f"determined from input shapes {[list(probe.shapes[i]) for i in ins]}")
            results.append((tuple(d.dim_value for d in tt.shape.dim), tt.elem_type))
        if node.op_type in ("MaxPool", "AveragePool") and _attr(node, "ceil_mode", 0):
            results = [(_drop_end_pad_window(node, probe.shapes[ins[0]], s), t) for s, t in results]
        return results


def _drop_end_pad_window(node: onnx.NodeProto, x: tuple[int, ...], out: tuple[int, ...]) -> tuple[int, ...]:
    """onnx's shape inference keeps a ceil_mode window that starts in the end padding;
    onnxruntime, onnx.reference and PyTorch drop it (the last window must start inside the
    input or the begin padding), and so does the IR's pooling."""
    spatial = len(x) - 2
    if len(out) != len(x) or _attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"", ""):
        return out
    strides = list(_attr(node, "strides", [1] * spatial))
    pads = list(_attr(node, "pads", [0] * 2 * spatial))
    return tuple(n - 1 if i >= 2 and (n - 1) * strides[i - 2] >= x[i] + pads[i - 2] else n
                 for i, n in enumerate(out))


class _NotFast(Exception):
    """The numpy fast path does not cover this case: use the reference evaluator."""


def _constant(node):
    if len(node.attribute) != 1:
        raise SnncError(f"{node_label(node)}: a Constant needs exactly one value attribute, it has "
                        f"{len(node.attribute)} ({', '.join(a.name for a in node.attribute) or 'none'})")
    (a,) = node.attribute
    if a.name == "value":
        from snnc.onnx.importer.initializers import read_tensor

        return read_tensor(a.t, f"{node_label(node)}: its value")
    kinds = {"value_int": np.int64, "value_ints": np.int64, "value_float": np.float32, "value_floats": np.float32}
    if a.name not in kinds:
        raise _NotFast
    return np.array(helper.get_attribute_value(a), dtype=kinds[a.name])


def _reshape(node, x, shape):
    shape = [int(d) for d in shape]
    if not _attr(node, "allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _unsqueeze(node, x, axes=None):
    axes = sorted(int(a) % (x.ndim + len(axes)) for a in axes) if axes is not None else None
    if axes is None:
        raise _NotFast
    for a in axes:
        x = np.expand_dims(x, a)
    return x


def _squeeze(node, x, axes=None):
    return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(int(a) for a in axes))


def _same_type_binary(fn):
    def run(node, a, b):
        if a.dtype != b.dtype or a.dtype.kind not in "iu":
            raise _NotFast          # float or mixed arithmetic: the reference knows the rules
        return fn(a, b)
    return run


# numpy for the shape arithmetic exporters write most (Constant, Reshape, Concat…): the
# reference evaluator is exact but slow to build per node; anything unusual goes there
_FAST = {
    "Constant": _constant,
    "Reshape": _reshape,
    "Concat": lambda node, *xs: np.concatenate([np.asarray(x) for x in xs], axis=_attr(node, "axis", 0)),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Identity": lambda node, x: x,
    "Gather": lambda node, x, i: np.take(x, i, axis=_attr(node, "axis", 0)),
    "Mul": _same_type_binary(np.multiply),
    "Add": _same_type_binary(np.add),
    "Sub": _same_type_binary(np.subtract),
}


def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default
