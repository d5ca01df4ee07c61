"""The counting rules: one batch's ACs, MACs, spikes and neuron updates of one layer.

Each rule reads the arrays a node's op sees (folded ``[B, *shape]``, B = steps · N, or
``[1, *shape]`` for a constant) and adds to a :class:`~snnc.backends.sim.stats.LayerStats`.
Counts are exact integers (int64, or float64 sums of integer-valued floats, exact below
2**53): nothing is sampled or estimated, except the fan-out of a synaptic op whose registry
entry declares none (then FLOPs / input size, flagged ``fanout_exact=False``).
"""

from __future__ import annotations

import numpy as np

from snnc.backends.sim.stats import ANALOG, SIT_ROLES, SPIKE, LayerStats, input_class
from snnc.ir.graph import Graph, Node
from snnc.ir.ops.common import align
from snnc.ir.registry import NEURON, SYNAPTIC, get


def role_of(node: Node) -> str | None:
    """``synaptic``, ``matmul``, ``neuron``, or None for a node the simulator does not count."""
    opdef = get(node.op)
    if opdef.has(SYNAPTIC):
        return "synaptic"
    if node.op == "matmul":
        return "matmul"
    if node.op == "spiking_matmul":
        return "spiking_matmul"
    if opdef.has(NEURON):
        return "neuron"
    if node.op in SIT_ROLES:
        return node.op
    return None


def new_stats(graph: Graph, node: Node, role: str, steps: int, integer_as: str) -> LayerStats:
    """An empty :class:`LayerStats` for ``node`` with its static facts filled in."""
    opdef = get(node.op)
    ins, outs = graph.ins(node), graph.outs(node)
    flops = int(opdef.flops(node, ins, outs))
    out_size = outs[0].size
    if role == "spiking_matmul":
        spiking = all(input_class(v.kind) == SPIKE for v in ins)
        return LayerStats(node.name, node.op, role, f"{ins[0].kind.name} @ {ins[1].kind.name}",
                          SPIKE if spiking else ANALOG, steps, flops, in_size=sum(v.size for v in ins),
                          out_size=out_size, integer_as=integer_as,
                          operand_sizes=[v.size for v in ins], operand_nonzero=[0.0, 0.0])
    if role == "matmul":
        classes = [input_class(v.kind) for v in ins]
        spikes = [v for v, c in zip(ins, classes) if c == SPIKE]
        return LayerStats(node.name, node.op, role, f"{ins[0].kind.name} @ {ins[1].kind.name}",
                          SPIKE if spikes else ANALOG, steps, flops,
                          in_size=sum(v.size for v in spikes) if spikes else sum(v.size for v in ins),
                          out_size=out_size, integer_as=integer_as,
                          operand_sizes=[v.size for v in spikes], operand_nonzero=[0.0] * len(spikes))
    if role == "si_exp":         # in_size: K inner steps per element (the firing rate's denominator)
        return LayerStats(node.name, node.op, role, ins[0].kind.name, ANALOG, steps, flops,
                          in_size=int(node.attrs["K"]) * ins[0].size, out_size=out_size, integer_as=integer_as)
    if role == "si_norm":
        return LayerStats(node.name, node.op, role, ins[0].kind.name, ANALOG, steps, flops,
                          in_size=ins[0].size, out_size=out_size, integer_as=integer_as)
    return LayerStats(node.name, node.op, role, ins[0].kind.name, input_class(ins[0].kind), steps, flops,
                      in_size=ins[0].size, out_size=out_size, integer_as=integer_as)


def fanout_of(graph: Graph, node: Node) -> tuple[np.ndarray, bool]:
    """The per-input-element fan-out of a synaptic node, and whether it is exact."""
    opdef = get(node.op)
    ins, outs = graph.ins(node), graph.outs(node)
    if opdef.fanout is not None:
        return np.asarray(opdef.fanout(node, ins, outs), dtype=np.int64).reshape(-1), True
    # no rule: spread the dense work evenly (exact for linear-like ops without padding)
    per = opdef.flops(node, ins, outs) / max(ins[0].size, 1)
    return np.full(ins[0].size, per, dtype=np.float64), False


def by_step(x: np.ndarray, steps: int, n: int, dtype=np.int64) -> np.ndarray:
    """``[B, ...]`` (B = steps·n, or 1 for a constant read by every sample) -> ``[steps, S]``,
    summed over the samples of each step."""
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[0] != steps * n:          # a broadcast constant: every evaluation sees it
        return np.repeat(flat.sum(axis=0, dtype=dtype)[None] * n, steps, axis=0)
    return flat.reshape(steps, n, -1).sum(axis=1, dtype=dtype)


def count_synaptic(stats: LayerStats, x: np.ndarray, fanout: np.ndarray, n: int) -> None:
    """Nonzero inputs times their fan-out (ACs for spikes, MACs or n·ACs for counts); the
    dense evaluations for MAC layers."""
    steps = stats.steps
    nz = by_step(x != 0, steps, n)                              # [steps, S]
    stats.nonzero_in += nz.sum(axis=1)
    if fanout.dtype.kind == "i":
        stats.events += nz @ fanout
    else:
        stats.events += nz.astype(np.float64) @ fanout
    if stats.input_class != SPIKE:
        mag = by_step(np.abs(x), steps, n, dtype=np.float64)
        stats.weighted += mag @ fanout.astype(np.float64)
        stats.weighted_in += float(mag.sum())
    stats.evaluations += n
    stats.samples += n


def count_matmul(stats: LayerStats, a: np.ndarray, b: np.ndarray, classes: list[str], n: int) -> None:
    """One AC per product with both factors nonzero: Σ_k nnz(a[:, k]) · nnz(b[k, :]) per
    matrix pair (the AND-accumulates of spike @ spike)."""
    steps = stats.steps
    a, b = align([a, b])
    cols = (a != 0).sum(axis=-2, dtype=np.int64)               # [B?, ..., K]
    rows = (b != 0).sum(axis=-1, dtype=np.int64)               # [B?, ..., K]
    pairs = cols * rows
    stats.events += by_step(pairs.reshape(pairs.shape[0], -1).sum(axis=1, keepdims=True), steps, n)[:, 0]
    for i, x in enumerate(x for x, c in zip((a, b), classes) if c == SPIKE):
        nz = by_step(x != 0, steps, n).sum(axis=1)
        stats.operand_nonzero[i] += float(nz.sum())
        stats.nonzero_in += nz
    stats.evaluations += n
    stats.samples += n


def count_neuron(stats: LayerStats, out: np.ndarray, n: int) -> None:
    """Spikes out (nonzero outputs) and one update per neuron per step."""
    stats.spikes_out += by_step(out != 0, stats.steps, n).sum(axis=1)
    stats.evaluations += n
    stats.samples += n


def _timed_align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[T, N, *shape]`` arrays with per-sample ranks made equal (1s after N)."""
    rank = max(a.ndim, b.ndim)
    return (a.reshape(*a.shape[:2], *([1] * (rank - a.ndim)), *a.shape[2:]),
            b.reshape(*b.shape[:2], *([1] * (rank - b.ndim)), *b.shape[2:]))


def _gated(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Σ over every output element of Σ_k [x_ik][y_kj], per step: ``[T]``. For 0/1 masks
    ``x [T, N, ..., n, p]`` and ``y [T, N, ..., p, m]``: Σ_k colsum_k(x)·rowsum_k(y)."""
    prod_ = x.sum(axis=-2, dtype=np.int64) * y.sum(axis=-1, dtype=np.int64)     # [T, N, ..., p]
    return prod_.reshape(prod_.shape[0], -1).sum(axis=1)


def count_spiking_matmul(stats: LayerStats, a: np.ndarray, b: np.ndarray, n: int) -> None:
    """ECMT Theorem 2's counts for ``a [T, N, ..., n, p]``, ``b [T, N, ..., p, m]`` (see
    :mod:`.stats`): ACs = the gated sums of Eq. 12 (nnz patterns of A(t), B(t) and the
    running sums S_A(t−1), S_B(t−1)); MACs and the ACs bound per Eq. 14 and Eq. 13 from
    each sample's firing rates at each step."""
    a, b = _timed_align(a, b)
    sa = np.cumsum(a, axis=0)
    sb = np.cumsum(b, axis=0)
    a_nz, b_nz = a != 0, b != 0
    sa_prev = np.concatenate([np.zeros_like(sa[:1]), sa[:-1]]) != 0
    sb_prev = np.concatenate([np.zeros_like(sb[:1]), sb[:-1]]) != 0
    stats.events += _gated(a_nz, b_nz) + _gated(a_nz, sb_prev) + _gated(sa_prev, b_nz)
    steps = a.shape[0]
    nnz_a = a_nz.reshape(steps, a.shape[1], -1).sum(axis=2)                     # [T, N]
    nnz_b = b_nz.reshape(steps, b.shape[1], -1).sum(axis=2)
    eta1 = nnz_a / max(stats.operand_sizes[0], 1)
    eta2 = nnz_b / max(stats.operand_sizes[1], 1)
    stats.mults += ((np.minimum(eta1, eta2) + eta1 + eta2) * stats.out_size).sum(axis=1)
    stats.bound += ((eta1 * eta2 + eta1 + eta2) * stats.flops + 3 * stats.out_size).sum(axis=1)
    stats.operand_nonzero[0] += float(nnz_a.sum())
    stats.operand_nonzero[1] += float(nnz_b.sum())
    stats.nonzero_in += (nnz_a + nnz_b).sum(axis=1)
    stats.evaluations += n
    stats.samples += n


def count_si_exp(stats: LayerStats, spikes: np.ndarray, n: int) -> None:
    """SIT's SI-exp (Eq. 2-4): ``spikes`` is the spike train ``[K, B, ...]``; each spike
    adds its d(t) to the output, one AC (``events``, also ``nonzero_in``: the neuron's
    firing rate is spikes per element per inner step)."""
    per_b = spikes.sum(axis=0)                                     # [B, ...] spikes per element
    fired = by_step(per_b, stats.steps, n)                         # [steps, S]
    stats.events += fired.sum(axis=1)
    stats.nonzero_in += fired.sum(axis=1)
    stats.evaluations += n
    stats.samples += n


def count_dense(stats: LayerStats, n: int) -> None:
    """SI-norm (SIT Eq. 5, 10): its registry FLOPs (sum, scale, divide) on every evaluation."""
    stats.evaluations += n
    stats.samples += n
