"""A short human-readable account of an ONNX model: what ``snnc export`` wrote."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from snnc.onnx import dialect


def _dims(value: onnx.ValueInfoProto) -> str:
    shape = value.type.tensor_type.shape
    return "[" + ", ".join(d.dim_param or str(d.dim_value) for d in shape.dim) + "]"


def describe(proto: onnx.ModelProto, path: str | Path | None = None) -> str:
    graph = proto.graph
    ops = Counter((n.domain or "ai.onnx", n.op_type) for n in graph.node)
    snnc_ops = {op: k for (dom, op), k in ops.items() if dom == dialect.DOMAIN}
    params = sum(int(np.prod(t.dims)) for t in graph.initializer)
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    lines = []
    if path is not None:
        size = Path(path).stat().st_size
        lines.append(f"wrote {path} ({size / 1e6:.2f} MB)")
    lines += [
        f"  opsets     {opsets}",
        "  inputs     " + ", ".join(f"{i.name}{_dims(i)}" for i in graph.input),
        "  outputs    " + ", ".join(f"{o.name}{_dims(o)}" for o in graph.output),
        f"  nodes      {len(graph.node)} ({sum(ops.values()) - sum(snnc_ops.values())} standard, "
        f"{sum(snnc_ops.values())} snnc: "
        + ", ".join(f"{k} {op}" for op, k in sorted(snnc_ops.items())) + ")",
        "  functions  " + (", ".join(f"{f.domain}::{f.name}" for f in proto.functions) or "none"),
        f"  weights    {params:,} numbers in {len(graph.initializer)} initializers",
    ]
    meta = {p.key: p.value for p in proto.metadata_props if p.key.startswith("snnc.")}
    if meta:
        lines.append("  metadata   " + ", ".join(f"{k}={v}" for k, v in sorted(meta.items())))
    return "\n".join(lines)
