"""The IR verifier: structure, then every node's outputs re-inferred from the registry.

Like MLIR's verifier, each op checks itself by re-running its own inference; a pass
manager runs this after every pass with ``--verify-each`` and names the pass that broke
the graph.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from snnc.ir.build import infer_outputs
from snnc.ir.errors import IRError
from snnc.ir.graph import Graph


def problems(graph: Graph) -> list[str]:
    """Every invariant ``graph`` breaks, one line each (empty when it is well formed)."""
    found = []
    if not nx.is_directed_acyclic_graph(graph.nx):
        cycle = nx.find_cycle(graph.nx)
        found.append("cycle: " + " -> ".join(str(u) for u, *_ in cycle))
        return found
    for name in graph.outputs:
        if name not in graph.values:
            found.append(f"graph output {name!r} is not defined")
    for name in graph.inputs:
        if graph.producer(name) is not None:
            found.append(f"graph input {name!r} is also written by {graph.producer(name).name!r}")
    for node in graph.nodes:
        missing = [v for v in node.inputs if v not in graph.values]
        if missing:
            found.append(f"node {node.name!r} reads undefined {missing}")
            continue
        try:
            inferred = infer_outputs(node, graph.ins(node))
        except IRError as err:
            found.append(str(err))
            continue
        found.extend(_nonfinite_params(node))
        for want in inferred:
            have = graph.values[want.name]
            for field in ("shape", "dtype", "kind", "axes"):
                if getattr(have, field) != getattr(want, field):
                    found.append(f"node {node.name!r}: output {want.name!r} has {field} "
                                 f"{getattr(have, field)}, its op infers {getattr(want, field)}")
    return found


def verify(graph: Graph) -> None:
    """Raise :class:`IRError` listing every problem of ``graph``."""
    found = problems(graph)
    if found:
        raise IRError(f"graph {graph.name!r} is malformed ({len(found)} problems)", problems=found)


def _nonfinite_params(node) -> list[str]:
    """NaN/inf in a weight, bias or normalisation statistic: it would pass show/check/opt
    silently and surface as a bad threshold at compile (issue 17). Constants may hold
    ±inf (attention masks); NaN nowhere."""
    from snnc.ir.registry import NORMALIZATION, SYNAPTIC, get

    weights = get(node.op).has(SYNAPTIC) or get(node.op).has(NORMALIZATION)
    found = []
    for name, arr in node.params.items():
        arr = np.asarray(arr)
        if arr.dtype.kind != "f":
            continue
        bad = int(np.isnan(arr).sum()) if not weights else int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            found.append(f"node {node.name!r} ({node.op}): parameter {name!r} holds {bad} "
                         f"{'NaN/inf' if weights else 'NaN'} value(s) of {arr.size}; fix the model's weights")
    return found
