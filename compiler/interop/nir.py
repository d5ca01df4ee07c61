"""NIR (the Neuromorphic Intermediate Representation, the ``nir`` package) in and out.

NIR describes neurons in continuous time; snnc's IR steps in discrete time. Reading a
file discretises each neuron with the step ``dt`` (the file's ``metadata["dt"]`` or the
caller's), forward Euler, as SpikingJelly, snnTorch and Norse step their own neurons:

    NIR LIF   τ·dv/dt = (v_leak − v) + R·I      ->  lif[tau = τ/dt, decay_input] on R·I
    NIR IF      dv/dt = R·I                     ->  if on dt·R·I
    fire when v >= v_threshold, then v = v_reset (NIR's reset; 0 when absent)

so that snnc's LIF, ``H = V + (X − (V − V_reset))/tau``, is the Euler step with
``X = R·I`` (exact when ``v_leak = v_reset``; otherwise the file is refused by name).
Per-neuron parameters must be uniform across a layer (snnc's neurons hold scalars).
``CubaLIF`` (τ_syn·dI/dt = −I + w_in·S, τ_mem·dv/dt = (v_leak − v) + R·I) is the same
Euler step, the current first (as snnTorch's Synaptic steps it), which is snnc's
``synaptic`` op with α = 1 − dt/τ_syn, β = 1 − dt/τ_mem on the input scaled by
(dt/τ_mem)·R·(dt/τ_syn)·w_in, reset to zero in the step that fires (``v_leak = v_reset
= 0``; otherwise refused by name): with J = (dt/τ_mem)·R·I, J' = α·J + c·S, v' = β·v + J'.
``Affine``/``Linear`` become ``linear``, ``Conv1d``/``Conv2d`` ``conv``, ``Flatten`` ``reshape``,
``Scale`` ``mul``, ``AvgPool2d``/``SumPool2d`` ``avgpool`` (a sum pool times k²); several
edges into one node add up (NIR's rule); ``Threshold`` is ``x > θ`` as float (nir's
definition, per neuron). A nested ``NIRGraph`` is inlined through its
own Input/Output nodes (edges may name ``sub`` or ``sub.node``); one that feeds back on
itself (snnTorch's RLeaky) is a cycle, refused by name. ``LI``, ``I``, ``CubaLI``
and ``Delay`` have no snnc op yet and are refused by name. ``Flatten``'s
dims index the per-sample shape (NIR's ``input_type``: no batch axis, as every exporter
writes it). An Input whose type carries the sample data's batch axis (Norse writes
``[4, 8]`` for an Affine of type ``[8]``, which nir.read's type check rejects) is read
without that check and without that axis.

Writing is the inverse for the ops NIR can hold; anything else is named.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snnc.ir.build import emit
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.ir.graph import Graph, Value
from snnc.ir.ops.synaptic import conv_geometry

_NO_OP = {"LI": "a non-spiking leaky integrator", "I": "a non-spiking integrator",
          "CubaLI": "a current-based leaky integrator", "Delay": "a synaptic delay"}


def _nir():
    try:
        import nir
    except ImportError as err:
        raise SnncError("reading or writing .nir files needs the nir package: pip install nir") from err
    return nir


def _scalar(node_name: str, field: str, value, default=None) -> float:
    if value is None:
        if default is None:
            raise SnncError(f"NIR node {node_name!r}: {field} is missing")
        return default
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all(arr == arr[0]):
        raise UnsupportedError(f"NIR node {node_name!r}: {field} differs between neurons "
                               f"({arr.min():g}..{arr.max():g}); snnc's neurons hold one value per layer")
    if not np.isfinite(arr[0]):
        raise SnncError(f"NIR node {node_name!r}: {field} is not finite")
    return float(arr[0])


class _Pass:
    """A nested graph's own Input or Output node, once inlined: its value passes through."""


def _inline(nir, graph, prefix: str = "") -> tuple[dict, list]:
    """``graph``'s nodes with every nested NIRGraph spliced in (keys ``sub.node``), and its
    edges; an edge naming a subgraph itself enters its Input / leaves its Output."""
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    ends: dict[str, tuple[list[str], list[str]]] = {}
    for key, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[prefix + key] = node
            continue
        inner, inner_edges = _inline(nir, node, f"{prefix}{key}.")
        ins = [k for k, n in node.nodes.items() if isinstance(n, nir.Input)]
        outs = [k for k, n in node.nodes.items() if isinstance(n, nir.Output)]
        for k in ins + outs:
            inner[f"{prefix}{key}.{k}"] = _Pass()
        nodes.update(inner)
        edges += inner_edges
        ends[key] = ([f"{prefix}{key}.{k}" for k in ins], [f"{prefix}{key}.{k}" for k in outs])

    def end(name: str, side: int) -> str:
        if name in ends:
            found = ends[name][side]
            if len(found) != 1:
                raise UnsupportedError(f"NIR subgraph {prefix + name!r} has {len(found)} "
                                       f"{'Input' if side == 0 else 'Output'} nodes; an edge must name one")
            return found[0]
        if prefix + name not in nodes:
            raise SnncError(f"NIR edge names {prefix + name!r}, which is no node of the graph")
        return prefix + name

    for s, d in graph.edges:
        edges.append((end(s, 1), end(d, 0)))
    return nodes, edges


def _input_shape(nir, key: str, node, consumers: list) -> tuple[int, ...]:
    """The per-sample shape of Input ``key``. Norse's exporter keeps the sample data's batch
    axis in the type (``[4, 8]`` into an Affine whose type is ``[8]``): one axis more than
    the consumer's per-sample type, in front of it, is that batch, and dropped."""
    types = list((node.input_type or {}).values())
    if not types or types[0] is None or np.asarray(types[0]).dtype == object:
        raise SnncError(f"NIR Input {key!r} states no input_type; write the graph with the input's shape")
    shape = tuple(int(d) for d in np.asarray(types[0]).reshape(-1))
    ranks = {nir.Conv1d: 2, nir.Conv2d: 3, nir.SumPool2d: 3, nir.AvgPool2d: 3}
    for c in consumers:
        declared = (getattr(c, "input_type", None) or {}).get("input")
        if declared is not None and np.asarray(declared).dtype != object and np.asarray(declared).size:
            declared = tuple(int(d) for d in np.asarray(declared).reshape(-1))
            return shape[1:] if shape[1:] == declared else shape
        if type(c) in ranks:
            return shape[1:] if len(shape) == ranks[type(c)] + 1 else shape
    return shape


def _unit(factor: float) -> float:
    """1 for a factor within float32 rounding of 1: exporters compute τ, R and w_in in float32
    (snnTorch writes R = τ/dt with τ = dt/(1 − β)), so products such as R·dt/τ miss 1 by an ulp."""
    return 1.0 if abs(factor - 1.0) < 1e-6 else factor


def _order(nodes: dict, edges: list) -> list[str]:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        loop = " -> ".join(str(k) for k in [*(e[0] for e in cycle), cycle[0][0]])
        raise UnsupportedError(f"the NIR graph has a cycle ({loop}: a recurrent connection, such as snnTorch's "
                               "RLeaky writes); snnc reads feed-forward graphs")
    return list(nx.lexicographical_topological_sort(g))


def read_graph(path: str | os.PathLike, dt: float | None = None) -> Graph:
    """The IR of the NIR file ``path``, neurons discretised with ``dt``."""
    nir = _nir()
    path = Path(path)
    try:
        model = _read_nir(nir, path)
    except Exception as err:  # h5py/nir raise assorted errors for a bad file
        raise SnncError(f"{path}: not a readable NIR file ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                        "write it with nir.write") from err
    if dt is None:
        dt = model.metadata.get("dt") if isinstance(model.metadata, dict) else None
    if dt is None:
        raise SnncError(f"{path}: the file states no time step (metadata 'dt'); pass --dt SECONDS")
    dt = float(np.asarray(dt).reshape(-1)[0])
    if not (np.isfinite(dt) and dt > 0):
        raise SnncError(f"{path}: the time step dt must be > 0, got {dt}")
    return from_nir(model, dt, name=path.stem)


def _read_nir(nir, path: Path):
    """nir.read, without nir's type check when that is what fails: Norse's exporter writes
    the sample's batch axis into the Input's type, which nir then finds at odds with the
    first layer's; snnc infers every shape itself (and drops that axis, ``_input_shape``)."""
    try:
        return nir.read(str(path))
    except ValueError as err:
        if "type" not in str(err).lower():
            raise
        return nir.read(str(path), type_check=False)


def from_nir(model, dt: float, name: str = "nir") -> Graph:
    nir = _nir()
    nodes, edges = _inline(nir, model)
    problems = [f"NIR node {k!r} is {type(n).__name__} ({_NO_OP[type(n).__name__]}): snnc has no such op yet"
                for k, n in nodes.items() if type(n).__name__ in _NO_OP]
    if problems:
        raise UnsupportedError(f"{len(problems)} NIR node(s) snnc cannot express", problems=problems)
    graph = Graph(name)
    graph.meta["nir_dt"] = dt
    out: dict[str, str] = {}
    for key in _order(nodes, edges):
        node = nodes[key]
        sources = [out[s] for s, d in edges if d == key]
        kind = type(node).__name__
        if isinstance(node, nir.Input):
            shape = _input_shape(nir, key, node, [nodes[d] for s, d in edges if s == key])
            graph.add_input(Value(key, shape, axes="TN"))
            out[key] = key
            continue
        if not sources:
            raise SnncError(f"NIR node {key!r} ({kind}) has no incoming edge")
        x = sources[0]
        for i, other in enumerate(sources[1:]):       # NIR adds the inputs of a node
            x = emit(graph, "add", [x, other], name=graph.fresh_name(f"{key}.sum{i}")).outputs[0]
        if isinstance(node, nir.Output):
            graph.outputs.append(x)
            out[key] = x
            continue
        if isinstance(node, _Pass):
            out[key] = x
            continue
        out[key] = _emit(graph, nir, key, node, x, dt)
    if not graph.outputs:
        raise SnncError("the NIR graph has no Output node")
    return graph


def _emit(graph: Graph, nir, key: str, node, x: str, dt: float) -> str:
    f32 = np.float32
    if isinstance(node, (nir.Affine, nir.Linear)):
        params = {"weight": np.asarray(node.weight, dtype=f32)}
        if isinstance(node, nir.Affine) and node.bias is not None and np.any(node.bias):
            params["bias"] = np.asarray(node.bias, dtype=f32).reshape(-1)
        return emit(graph, "linear", [x], name=key, params=params).outputs[0]
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        weight = np.asarray(node.weight, dtype=f32)
        n = weight.ndim - 2
        stride, dilation = _per_axis(node.stride, n), _per_axis(node.dilation, n)
        attrs = {"strides": stride, "pads": _conv_pads(key, node.padding, weight.shape[2:], stride, dilation),
                 "dilations": dilation, "group": int(node.groups)}
        params = {"weight": weight}
        if node.bias is not None and np.any(node.bias):
            params["bias"] = np.asarray(node.bias, dtype=f32).reshape(-1)
        return emit(graph, "conv", [x], name=key, attrs=attrs, params=params).outputs[0]
    if isinstance(node, nir.Flatten):
        shape = graph.values[x].shape
        start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
        start, end = start + len(shape) if start < 0 else start, end + len(shape) if end < 0 else end
        if not 0 <= start <= end < len(shape):
            raise UnsupportedError(f"NIR node {key!r}: Flatten dims {node.start_dim}..{node.end_dim} are "
                                   f"outside its input's per-sample shape {shape}")
        flat = (*shape[:start], int(np.prod(shape[start:end + 1])), *shape[end + 1:])
        return emit(graph, "reshape", [x], name=key, attrs={"shape": list(flat)}).outputs[0]
    if isinstance(node, nir.Scale):
        return _scale(graph, f"{key}", x, np.asarray(node.scale, dtype=f32))
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        k = [int(v) for v in np.broadcast_to(np.asarray(node.kernel_size).reshape(-1), (2,))]
        s = [int(v) for v in np.broadcast_to(np.asarray(node.stride).reshape(-1), (2,))]
        p = [int(v) for v in np.broadcast_to(np.asarray(node.padding).reshape(-1), (2,))]
        y = emit(graph, "avgpool", [x], name=key, attrs={"kernel_shape": k, "strides": s,
                                                         "pads": [p[0], p[1], p[0], p[1]]}).outputs[0]
        return y if isinstance(node, nir.AvgPool2d) else _scale(graph, f"{key}.sum", y, np.float32(k[0] * k[1]))
    if isinstance(node, (nir.LIF, nir.IF)):
        r = _scalar(key, "r", node.r)
        v_th = _scalar(key, "v_threshold", node.v_threshold)
        v_reset = _scalar(key, "v_reset", getattr(node, "v_reset", None), 0.0)
        if isinstance(node, nir.LIF):
            tau = _scalar(key, "tau", node.tau) / dt
            v_leak = _scalar(key, "v_leak", node.v_leak)
            if v_leak != v_reset:
                raise UnsupportedError(f"NIR node {key!r}: v_leak {v_leak:g} differs from v_reset {v_reset:g}; snnc's "
                                       "LIF decays towards its reset value")
            if not tau > 1:
                raise SnncError(f"NIR node {key!r}: tau/dt = {tau:g} must be > 1 for a stable Euler step; "
                                "pass a smaller --dt")
            x = _scale(graph, f"{key}.r", x, np.float32(r)) if r != 1 else x
            return emit(graph, "lif", [x], name=key, attrs={"tau": tau, "v_threshold": v_th, "v_reset": v_reset,
                                                            "decay_input": 1}).outputs[0]
        x = _scale(graph, f"{key}.r", x, np.float32(r * dt)) if _unit(r * dt) != 1 else x
        return emit(graph, "if", [x], name=key, attrs={"v_threshold": v_th, "v_reset": v_reset}).outputs[0]
    if isinstance(node, nir.CubaLIF):
        return _cuba_lif(graph, key, node, x, dt)
    if isinstance(node, nir.Threshold):    # stateless: z = 1 where x > θ (nir's docstring), per neuron
        theta = np.asarray(node.threshold, dtype=f32)
        c = emit(graph, "constant", [], name=graph.fresh_name(key + ".theta"), params={"value": theta}).outputs[0]
        z = emit(graph, "greater", [x, c], name=graph.fresh_name(key + ".gt")).outputs[0]
        return emit(graph, "cast", [z], name=key, attrs={"to": "float32"}).outputs[0]
    raise UnsupportedError(f"NIR node {key!r} is {type(node).__name__}, which snnc does not read yet")


def _per_axis(value, n: int) -> list[int]:
    return [int(v) for v in np.broadcast_to(np.asarray(value).reshape(-1), (n,))]


def _conv_pads(key: str, padding, kernel, stride: list[int], dilation: list[int]) -> list[int]:
    """ONNX pads (begins, then ends) of a NIR conv's padding: sizes, or torch's "valid" and
    "same" (stride 1; the odd pixel of an even kernel at the end, as torch pads it)."""
    text = padding.decode() if isinstance(padding, bytes) else padding
    if isinstance(text, np.ndarray) and text.dtype.kind in "SUO":
        text = text.item().decode() if isinstance(text.item(), bytes) else str(text.item())
    if not isinstance(text, str):
        pad = _per_axis(padding, len(kernel))
        return pad + pad
    if text == "valid":
        return [0] * 2 * len(kernel)
    if text == "same" and all(s == 1 for s in stride):
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [t // 2 for t in total] + [t - t // 2 for t in total]
    raise UnsupportedError(f"NIR node {key!r}: padding {text!r} with strides {stride}; give explicit sizes")


def _cuba_lif(graph: Graph, key: str, node, x: str, dt: float) -> str:
    """NIR's CubaLIF as snnc's ``synaptic`` (see the module docstring for the algebra)."""
    k_syn, k_mem = dt / _scalar(key, "tau_syn", node.tau_syn), dt / _scalar(key, "tau_mem", node.tau_mem)
    r, w_in = _scalar(key, "r", node.r, 1.0), _scalar(key, "w_in", getattr(node, "w_in", None), 1.0)
    v_leak = _scalar(key, "v_leak", node.v_leak, 0.0)
    v_reset = _scalar(key, "v_reset", getattr(node, "v_reset", None), 0.0)
    if v_leak != 0 or v_reset != 0:
        raise UnsupportedError(f"NIR node {key!r}: CubaLIF with v_leak {v_leak:g} / v_reset {v_reset:g}; snnc's "
                               "current-based neuron (synaptic) leaks and resets to 0")
    if not (0 < k_syn < 1 and 0 < k_mem < 1):
        raise SnncError(f"NIR node {key!r}: tau_syn/dt = {1 / k_syn:g} and tau_mem/dt = {1 / k_mem:g} must be > 1 "
                        "for a stable Euler step; pass a smaller --dt")
    c = _unit(k_mem * r * k_syn * w_in)
    x = _scale(graph, f"{key}.in", x, np.float32(c)) if c != 1 else x
    attrs = {"alpha": 1.0 - k_syn, "beta": 1.0 - k_mem, "threshold": _scalar(key, "v_threshold", node.v_threshold),
             "reset_mechanism": 1, "reset_delay": 0}
    return emit(graph, "synaptic", [x], name=key, attrs=attrs).outputs[0]


def _scale(graph: Graph, name: str, x: str, factor: np.ndarray) -> str:
    c = emit(graph, "constant", [], name=graph.fresh_name(name + ".c"), params={"value": np.asarray(factor)}).outputs[0]
    return emit(graph, "mul", [x, c], name=graph.fresh_name(name)).outputs[0]


def to_nir(graph: Graph, dt: float):
    """``graph`` as a ``nir.NIRGraph`` with time step ``dt`` (see the module docstring)."""
    from snnc.passes import run_pipeline

    nir = _nir()
    graph = run_pipeline(graph, "fold-bias")      # torch's Linear on [T, N, F] is MatMul + Add: NIR's Affine
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    problems: list[str] = []

    def sources(value: str) -> list[str]:
        producer = graph.producer(value)
        if producer is None:
            return [value]
        if producer.op == "add" and all(not graph.values[v].is_const for v in producer.inputs):
            return [s for v in producer.inputs for s in sources(v)]          # NIR adds a node's inputs
        return [producer.name]

    for name in graph.inputs:
        nodes[name] = nir.Input(input_type={"input": np.array(graph.values[name].shape)})
    for node in graph.nodes:
        if node.op == "constant" or (node.op == "add" and all(not graph.values[v].is_const for v in node.inputs)):
            continue
        made = _to_nir_node(nir, graph, node, dt)
        if isinstance(made, str):
            problems.append(f"node {node.name!r} ({node.op}): {made}")
            continue
        nodes[node.name] = made
        data = [v for v in node.inputs if not graph.values[v].is_const]
        edges += [(s, node.name) for v in data for s in sources(v)]
    for i, value in enumerate(graph.outputs):
        key = graph.fresh_name(f"output{i}") if f"output{i}" in nodes else f"output{i}"
        nodes[key] = nir.Output(output_type={"output": np.array(graph.values[value].shape)})
        edges += [(s, key) for s in sources(value)]
    if problems:
        raise UnsupportedError(f"{len(problems)} node(s) NIR cannot hold", problems=problems)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt, "source": "snnc"})


def _to_nir_node(nir, graph: Graph, node, dt: float):
    shape = graph.values[node.outputs[0]].shape
    p, a = node.params, node.attrs
    if node.op == "linear":
        if "bias" in p:
            return nir.Affine(weight=p["weight"], bias=p["bias"])
        return nir.Linear(weight=p["weight"])
    if node.op == "conv" and p["weight"].ndim == 4:
        strides, pads, dilations = conv_geometry(node, 2)
        if pads[:2] != pads[2:]:
            return "asymmetric padding; NIR's Conv2d pads both sides alike"
        bias = p.get("bias", np.zeros(p["weight"].shape[0], dtype=np.float32))
        return nir.Conv2d(input_shape=tuple(graph.values[node.inputs[0]].shape[1:]), weight=p["weight"],
                          stride=strides, padding=pads[:2], dilation=dilations, groups=int(a["group"]), bias=bias)
    if node.op == "reshape":
        src = graph.values[node.inputs[0]].shape
        k = next((i for i in range(len(src)) if src[i:] != shape[i:]), len(src))
        if shape == (*src[:k], int(np.prod(src[k:]))):
            return nir.Flatten(input_type={"input": np.array(src)}, start_dim=k, end_dim=-1)
        return "a reshape that is not a flatten of trailing axes"
    if node.op == "mul":
        consts = [graph.producer(v) for v in node.inputs if graph.values[v].is_const]
        if len(consts) == 1:
            # NIR types every port: a scalar constant is broadcast to the node's shape
            return nir.Scale(scale=np.broadcast_to(np.asarray(consts[0].params["value"], dtype=np.float32), shape).copy())
        return "a product of two activations"
    if node.op == "avgpool" and not any(a["pads"]):
        return nir.AvgPool2d(kernel_size=np.array(a["kernel_shape"]), stride=np.array(a["strides"] or a["kernel_shape"]),
                             padding=np.array([0, 0]))
    if node.op in ("lif", "if"):
        if a["soft_reset"]:
            return "soft reset (V -= threshold); NIR neurons reset to v_reset"
        full = lambda v: np.full(shape, v, dtype=np.float32)   # noqa: E731
        v_reset = float(a["v_reset"])
        if node.op == "if":
            return nir.IF(r=full(1.0 / dt), v_threshold=full(a["v_threshold"]), v_reset=full(v_reset))
        if not a["decay_input"]:
            return "decay_input=0 (H = V − (V − V_reset)/τ + X) is not NIR's LIF"
        return nir.LIF(tau=full(float(a["tau"]) * dt), r=full(1.0), v_leak=full(v_reset),
                       v_threshold=full(a["v_threshold"]), v_reset=full(v_reset))
    return "NIR has no such node"


def write_graph(graph: Graph, path: str | os.PathLike, dt: float, *, overwrite: bool = False) -> None:
    """Write ``graph`` to ``path`` as NIR (HDF5) with time step ``dt``, atomically; an
    existing ``path`` is refused unless ``overwrite`` (as :func:`snnc.onnx.ir_to_onnx.save_graph`)."""
    nir = _nir()
    from snnc.files import atomic_write, check_output
    import tempfile

    path = Path(path)
    check_output(path, overwrite)
    model = to_nir(graph, dt)
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.exists() else None) as tmp:
        nir.write(str(Path(tmp) / "m.nir"), model)
        atomic_write(path, (Path(tmp) / "m.nir").read_bytes())
