"""Lower a quantised graph to Lava processes and run it on Lava's bit-accurate simulator.

    run = run_chip(plan(q), sources)      # the chip region only; see run.py for a graph
    run.values["conv1_lif"]               # every neuron layer's spikes, [T, N, ...]

The lowering is a table, :data:`LOWER`, from loihi op to a function that builds its
Lava process (``# loihi op -> Lava process``):

    loihi_dense  -> lava.proc.dense.Dense (lava.proc.sparse.Sparse when large)
                    block-diagonal over the batch, rows/columns in the neurons' Lava order
    loihi_conv   -> lava.proc.conv.Conv: kernel flipped and transposed to Lava's
                    (O, W, H, C/g) convolution, the batch as N·g groups
    loihi_lif    -> lava.proc.lif.LIF (du, dv, vth, per-neuron bias mantissa/exponent);
                    LIFReset (one reset, at ``start``) for a neuron that starts late
    loihi_mt     -> lava_procs.multi_threshold.MultiThreshold: ECMT's multi-threshold neuron,
                    a microcoded neuron on Loihi 2 (fixed_pt model), graded spikes out
    reshape      -> nothing: a reshaped port (the neurons stay where they are)
    add (spikes) -> nothing: every reader's in-port is connected to both streams (Lava sums them)
    host nodes   -> one HostOp per cluster (lava_procs/host_op.py, snnc.backends.loihi.host):
                    between chip layers, a CPU process stepping the IR nodes
    input        -> lava.proc.io.source.RingBuffer (binary or graded integer spikes)
    probe        -> a Recorder (lava_procs/recorder.py) on every neuron layer and on
                    every value the host reads back

and everything runs under ``Loihi2SimCfg(select_tag="fixed_pt")``: PyLifModelBitAcc,
PyDenseModelBitAcc, PyConvModelFixed. Host nodes before and after the chip run in numpy
(:mod:`snnc.backends.loihi.chip`); those between chip layers run inside the Lava run. A batch runs in as few Lava runs as Lava's int8
``groups`` allows (N·g <= 127 per conv), ``max_batch`` samples at most per run.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from snnc.backends.loihi.chip import ALIASES, ChipPlan, Layout, conv_layout
from snnc.backends.loihi.lava_compat import import_lava
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.ir.graph import Graph, Node
from snnc.ir.ops.common import prod
from snnc.ir.ops.loihi import sign_mode

#: above this many matrix entries a dense layer becomes a Lava Sparse process
SPARSE_ABOVE = 1 << 20
LAVA_MAX_GROUPS = 127
#: LIFReset's interval for a reset that happens once: longer than any run
RESET_NEVER_AGAIN = 1 << 30


@dataclass
class LavaRun:
    values: dict[str, np.ndarray]     # every probed chip value, [T, N, *shape]
    runs: int                         # Lava runs it took (batch chunks)
    seconds: float                    # wall time inside Lava (build, run, read back)


def _lower_dense(node: Node, graph: Graph, layout, n: int):
    from scipy import sparse

    from lava.proc.dense.process import Dense
    from lava.proc.sparse.process import Sparse
    from lava.utils.weightutils import SignMode

    w = node.params["weight"].astype(np.int32)
    positions = prod(graph.values[node.inputs[0]].shape[:-1])
    big = sparse.kron(sparse.identity(n * positions, dtype=np.int32, format="csr"), sparse.csr_matrix(w),
                      format="csr")
    rows, cols = layout(node.outputs[0]).perm, layout(node.inputs[0]).perm
    big = big[rows][:, cols]
    kwargs = dict(weight_exp=node.attrs.get("weight_exp", 0), num_weight_bits=node.attrs.get("num_weight_bits", 8),
                  sign_mode=SignMode[(node.attrs.get("sign_mode") or sign_mode(w)).upper()],
                  num_message_bits=node.attrs.get("num_message_bits", 0), name=node.name)
    if big.shape[0] * big.shape[1] > SPARSE_ABOVE:
        proc = Sparse(weights=big.astype(np.int32), **kwargs)
    else:
        proc = Dense(weights=big.toarray().astype(np.int32), **kwargs)
    return proc, proc.s_in, proc.a_out


def _conv_args(node: Node, graph: Graph, n: int) -> dict:
    """Lava Conv's arguments: snnc's ``[O, C/g, kh, kw]`` cross-correlation kernel becomes
    Lava's ``(O, kw, kh, C/g)`` convolution kernel (flipped); axes swap to (x=W, y=H)."""
    w = np.left_shift(node.params["weight"].astype(np.int64), node.attrs.get("weight_exp", 0))
    spatial = w.ndim - 2
    strides = list(node.attrs.get("strides") or [1] * spatial)
    all_pads = list(node.attrs.get("pads") or [0] * 2 * spatial)
    pads = all_pads[:spatial]
    if pads != all_pads[spatial:]:
        raise UnsupportedError(f"{node.name!r}: pads {all_pads} differ per side; Lava's Conv pads both sides "
                               "alike (lower the unpartitioned program)")
    dil = list(node.attrs.get("dilations") or [1] * spatial)
    if spatial == 1:                                   # [C, L] runs as (L, 1, C)
        w, strides, pads, dil = w[:, :, None, :], [1] + strides, [0] + pads, [1] + dil
    kernel = w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)
    group = node.attrs.get("group", 1)
    return dict(weight=np.ascontiguousarray(np.tile(kernel, (n, 1, 1, 1))).astype(np.int32),
                input_shape=conv_layout(graph.values[node.inputs[0]].shape, n).shape,
                padding=(pads[1], pads[0]), stride=(strides[1], strides[0]), dilation=(dil[1], dil[0]),
                groups=n * group, num_weight_bits=node.attrs.get("num_weight_bits", 8),
                num_message_bits=node.attrs.get("num_message_bits", 0))


def _lower_conv(node: Node, graph: Graph, layout, n: int):
    from lava.proc.conv.process import Conv

    proc = Conv(**_conv_args(node, graph, n), name=node.name)
    want = conv_layout(graph.values[node.outputs[0]].shape, n).shape
    if tuple(proc.a_out.shape) != tuple(want):
        raise SnncError(f"{node.name!r}: Lava's Conv makes {proc.a_out.shape}, snnc expects {want}")
    return proc, proc.s_in, proc.a_out


def _per_neuron(node: Node, name: str, shape, lay: Layout, n: int) -> np.ndarray:
    value = node.params.get(name, np.zeros((), np.int32)).astype(np.int32)
    full = np.broadcast_to(value, (n, *shape)).reshape(-1)
    return full[lay.perm].reshape(lay.shape)


def _lower_lif(node: Node, graph: Graph, layout, n: int):
    from lava.proc.lif.process import LIF, LIFReset

    lay = layout(node.outputs[0])
    shape = graph.values[node.outputs[0]].shape
    kwargs = dict(shape=lay.shape, du=node.attrs.get("du", 4095), dv=node.attrs.get("dv", 0),
                  vth=node.attrs.get("vth", 10), bias_mant=_per_neuron(node, "bias_mant", shape, lay, n),
                  bias_exp=_per_neuron(node, "bias_exp", shape, lay, n), name=node.name)
    start = node.attrs.get("start", 0)
    if start > 0:       # zero u, v once, as (1-based) time step start + 1 begins
        proc = LIFReset(**kwargs, reset_interval=RESET_NEVER_AGAIN, reset_offset=start + 1)
    else:
        proc = LIF(**kwargs)
    return proc, proc.a_in, proc.s_out


def _lower_mt(node: Node, graph: Graph, layout, n: int):
    from snnc.backends.loihi.lava_procs.multi_threshold import MultiThreshold

    lay = layout(node.outputs[0])
    shape = graph.values[node.outputs[0]].shape
    per = {k: _per_neuron(node, k, shape, lay, n) for k in ("theta_pos", "theta_neg", "bias")}
    proc = MultiThreshold(shape=lay.shape, **per, levels=node.attrs["levels"], gap=node.attrs.get("gap", 2),
                          unit=node.attrs.get("unit", 1), start=node.attrs.get("start", 0), name=node.name)
    return proc, proc.a_in, proc.s_out


#: loihi op -> function(node, graph, layout lookup, batch) -> (process, in port, out port)
LOWER = {"loihi_dense": _lower_dense, "loihi_conv": _lower_conv, "loihi_lif": _lower_lif, "loihi_mt": _lower_mt}


def _connect(out_port, in_port) -> None:
    """Connect an out-port (or each of a list: a sum of spike streams, which the in-port adds)."""
    for port in out_port if isinstance(out_port, list) else [out_port]:
        if tuple(port.shape) != tuple(in_port.shape):
            port = port.reshape(tuple(in_port.shape))
        port.connect(in_port)


def _shape(out_port) -> tuple[int, ...]:
    return tuple((out_port[0] if isinstance(out_port, list) else out_port).shape)


def build_network(p: ChipPlan, sources: dict[str, np.ndarray], n: int, steps: int, folder: str):
    """The Lava processes of the chip region for a batch of ``n``: ``(processes, records,
    layout, saves)``; ``records[value]`` is the .npy file a Recorder writes that value's
    steps to, ``saves`` the .npz files the host processes write theirs to. ``sources``
    holds what the chip reads from before the run and what its host nodes read."""
    from lava.proc.io.source import RingBuffer as Source

    from snnc.backends.loihi.host import HostProgram, clusters
    from snnc.backends.loihi.lava_procs.host_op import host_op
    from snnc.backends.loihi.lava_procs.recorder import Recorder

    layouts = p.layouts(n)

    def layout(value: str) -> Layout:
        return layouts[p.group[value]]

    ports, procs, pending = {}, [], []
    for value in p.sources:
        src = Source(data=layout(value).to_lava(sources[value].astype(np.int32)))
        procs.append(src)
        ports[value] = src.s_out
    host, saves = set(p.host), []
    for node in p.chip:
        if node.name in host:
            continue
        if node.op in ALIASES:
            ports[node.outputs[0]] = ports[node.inputs[0]]
            continue
        if node.op == "add":                             # a sum of spike streams: both connections
            ports[node.outputs[0]] = [q for v in node.inputs for q in (ports[v] if isinstance(ports[v], list)
                                                                       else [ports[v]])]
            continue
        proc, in_port, out_port = LOWER[node.op](node, p.graph, layout, n)
        pending.append((node.inputs[0], in_port))        # connected once the host processes exist
        ports[node.outputs[0]] = out_port
        procs.append(proc)
    for i, cluster in enumerate(clusters(p)):
        saves.append(os.path.join(folder, f"host{i}.npz"))
        program = HostProgram(p.graph, cluster, {v: sources[v] for v in cluster.fixed}, n, steps)
        proc = host_op(program=program, ins=[(_shape(ports[v]), layout(v).perm) for v in cluster.reads],
                      outs=[(layout(v).shape, layout(v).perm) for v in cluster.sends], steps=steps,
                      path=saves[-1], name=f"host:{cluster.name}")
        for j, v in enumerate(cluster.reads):
            _connect(ports[v], getattr(proc, f"in{j}"))
        for j, v in enumerate(cluster.sends):
            ports[v] = getattr(proc, f"out{j}")
        procs.append(proc)
    for value, in_port in pending:
        _connect(ports[value], in_port)
    records = {}
    for i, value in enumerate(p.probes):
        records[value] = os.path.join(folder, f"probe{i}.npy")
        probe = Recorder(shape=_shape(ports[value]), steps=steps, path=records[value])
        _connect(ports[value], probe.a_in)
    return procs, records, layout, saves


def _run_guarded(runner, steps: int, timeout: float) -> None:
    """``runner.run(RunSteps(steps), Loihi2SimCfg(select_tag="fixed_pt"))``, then stop.

    An exception inside a Lava worker can leave Lava's runtime waiting forever (it joins
    workers that are blocked on their channels). So the run gets a deadline: past it, or
    on an error, the workers this run started are terminated and the error is raised
    with the worker's own last traceback line."""
    import multiprocessing as mp
    import threading

    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    before = set(mp.active_children())
    failure: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        except BaseException as err:  # reported below, in the caller's thread
            failure.append(err)

    thread = threading.Thread(target=run, name="snnc-lava-run", daemon=True)
    thread.start()
    thread.join(timeout)
    if not thread.is_alive() and not failure:
        runner.stop()
        return
    why = _worker_error(runner) or (f"{type(failure[0]).__name__}: {failure[0]}" if failure
                                    else f"no answer within {timeout:g} s")
    for child in set(mp.active_children()) - before:
        child.terminate()
    raise SnncError(f"the Lava run failed ({why}); its workers were stopped")


def _worker_error(runner) -> str:
    """The last line of the first traceback a Lava worker reported (best effort: Lava keeps
    them on its private runtime object)."""
    try:
        for actor in runner.runtime._messaging_infrastructure.actors:
            exc = actor.exception
            if exc:
                return str(exc[1]).strip().splitlines()[-1]
    except Exception:  # noqa: BLE001 - diagnostics only
        pass
    return ""


def _run_chunk(p: ChipPlan, sources: dict[str, np.ndarray], n: int, steps: int,
               timeout: float) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="snnc-lava-") as folder:
        procs, records, layout, saves = build_network(p, sources, n, steps, folder)
        _run_guarded(procs[0], steps, timeout)
        got = {v: np.load(path) for v, path in records.items()}
        kept = {}
        for path in saves:
            with np.load(path) as data:
                kept.update({str(v): data[f"arr_{i}"] for i, v in enumerate(data["names"])})
    out = dict(kept)
    for value, data in got.items():
        value_def = p.graph.values[value]
        dtype = np.float32 if value_def.dtype == "float32" else np.int32
        out[value] = layout(value).from_lava(data.astype(dtype), n, value_def.shape)
    return out


def _batch_slice(graph: Graph, value: str, a: np.ndarray, start: int, n: int) -> np.ndarray:
    """Samples ``start .. start + n`` of ``value`` (timed ``[T, N, ...]``, per sample
    ``[N, ...]``; a constant has none)."""
    axes = graph.values[value].axes
    return a[:, start:start + n] if axes == "TN" else a[start:start + n] if axes == "N" else a


def run_chip(p: ChipPlan, sources: dict[str, np.ndarray], *, max_batch: int = 16, timeout: float = 600.0) -> LavaRun:
    """Run the chip region of plan ``p`` on Lava (fixed_pt) for ``sources`` (each
    ``[T, N, *shape]``); returns every probed value, ``[T, N, *shape]``, as Lava computed it."""
    import_lava()
    if not p.chip:
        raise SnncError(f"graph {p.graph.name!r} has nothing to run on Loihi; quantize it first "
                        "(snnc.backends.loihi.quantize.quantize)")
    if not sources:
        raise SnncError(f"graph {p.graph.name!r}: the chip reads no input (nothing to inject)")
    steps, batch = sources[p.sources[0]].shape[:2]
    chunk = max(1, min(batch, max_batch, LAVA_MAX_GROUPS // p.max_groups()))
    kept = p.probes + p.host_saves
    parts: dict[str, list[np.ndarray]] = {v: [] for v in kept}
    start_time, runs = time.perf_counter(), 0
    for start in range(0, batch, chunk):
        n = min(chunk, batch - start)
        got = _run_chunk(p, {v: _batch_slice(p.graph, v, a, start, n) for v, a in sources.items()}, n, steps,
                         timeout)
        runs += 1
        for v in kept:
            parts[v].append(got[v])
    values = {v: np.concatenate(parts[v], axis=1) for v in kept}
    return LavaRun(values, runs, time.perf_counter() - start_time)
