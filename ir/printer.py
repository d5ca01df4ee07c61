"""The IR's text form: one line per node, in topological order, types on what it defines.

    graph spikingformer(%x: analog[3,32,32]) {
      %patch_embed.proj_conv = conv[pads=1](%x) {weight: f32[48,3,3,3]} : analog[48,32,32]
      %patch_embed.proj1_lif = lif[tau=2, v_threshold=1](%patch_embed.proj_bn) : spike[48,32,32]
      ...
      return %head
    }

A type reads ``kind[shape]``; ``:i64`` follows the kind for non-float32 values; ``@N``
marks a value outside time (once per sample), ``@const`` a constant. Attributes equal to
their defaults are left out. The same printer serves ``snnc show``, diagnostics and
golden tests.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph, Node, Value
from snnc.ir.registry import REGISTRY

_DTYPE_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "int64": "i64", "int32": "i32",
                "int8": "i8", "uint8": "u8", "bool": "bool", "int16": "i16"}
_SHAPE_ATTRS = {"kernel_shape", "shape"}
# geometry lists that say nothing when every entry is this value
_NEUTRAL = {"strides": 1, "dilations": 1, "pads": 0, "output_padding": 0}


def type_str(value: Value) -> str:
    dtype = "" if value.dtype == "float32" else ":" + _DTYPE_SHORT.get(value.dtype, value.dtype)
    axes = {"TN": "", "N": " @N", "": " @const"}[value.axes]
    return f"{value.kind.describe()}{dtype}[{','.join(map(str, value.shape))}]{axes}"


def _fmt_number(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def _fmt_attr(name: str, value) -> str:
    if isinstance(value, (list, tuple)):
        if name in _SHAPE_ATTRS:
            return "x".join(map(_fmt_number, value)) if value else "()"
        if value and all(v == value[0] for v in value):
            return _fmt_number(value[0])
        return "(" + ",".join(map(_fmt_number, value)) + ")"
    if isinstance(value, str):
        return value
    return _fmt_number(value)


def attrs_str(node: Node) -> str:
    schema = REGISTRY[node.op].attrs if node.op in REGISTRY else {}
    shown = []
    for name, value in node.attrs.items():
        spec = schema.get(name)
        if spec is not None and not spec.required and _same(value, spec.default):
            continue
        if name in _NEUTRAL and all(v == _NEUTRAL[name] for v in value):
            continue
        shown.append(f"{name}={_fmt_attr(name, value)}")
    return f"[{', '.join(shown)}]" if shown else ""


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return tuple(a or ()) == tuple(b or ())
    if isinstance(a, float) and isinstance(b, float):
        return np.float32(a) == np.float32(b)     # attributes travel as float32 in ONNX
    return a == b


def params_str(node: Node) -> str:
    if not node.params:
        return ""
    parts = []
    for name, arr in node.params.items():
        arr = np.asarray(arr)
        if arr.size <= 4:
            vals = ",".join(_fmt_number(v) for v in arr.ravel().tolist())
            parts.append(f"{name}: {vals if arr.ndim == 0 else f'[{vals}]'}")
        else:
            dtype = _DTYPE_SHORT.get(str(arr.dtype), str(arr.dtype))
            parts.append(f"{name}: {dtype}[{','.join(map(str, arr.shape))}]")
    return " {" + ", ".join(parts) + "}"


def node_str(graph: Graph, node: Node, *, source: bool = False) -> str:
    """``%out = op[attrs](%a, %b) {params} : type`` (and ``# onnx: <source>``)."""
    outs = ", ".join(f"%{o}" for o in node.outputs)
    ins = ", ".join(f"%{i}" for i in node.inputs)
    types = ", ".join(type_str(graph.values[o]) for o in node.outputs)
    line = f"{outs} = {node.op}{attrs_str(node)}({ins}){params_str(node)} : {types}"
    notes = []
    if node.outputs and node.outputs[0] != node.name:
        notes.append(f"node {node.name}")
    if source and node.source:
        notes.append(f"onnx: {node.source}")
    return line + (f"  # {'; '.join(notes)}" if notes else "")


def graph_str(graph: Graph, *, source: bool = False) -> str:
    header = ", ".join(f"%{n}: {type_str(graph.values[n])}" for n in graph.inputs)
    lines = [f"graph {graph.name}({header}) {{"]
    lines += ["  " + node_str(graph, n, source=source) for n in graph.nodes]
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines)
