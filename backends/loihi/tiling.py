"""Tiles: blocks of a layer's neurons, what each needs from a core, and the best cut.

A chip layer is a synapse node (``loihi_conv`` or ``loihi_dense``) and the neurons that
integrate its output (a ``loihi_lif``, or plain compartments the host reads back). Its
neurons have the per-sample shape of the synapse's output; a *tile* is a box of them,
``[lo, hi)`` per axis. What a tile needs of a core:

- ``neurons``: the box's volume (one compartment each);
- ``synapse_bits``: stored weights × ``synapse_bits`` — a dense layer stores a row of
  weights per neuron; a convolution stores, per neuron, the kernel taps that land inside
  the input (padding-aware), unless the target shares kernels (then once per channel);
- ``input_axons``: the distinct presynaptic neurons the box's receptive field covers.

The receptive field of a box is a box of the input (channels of the groups the box
touches; per spatial axis, the positions ``o·s − p_b + j·d`` for its outputs o and taps
j that fall inside the input), so every load is a product of per-axis factors.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.ops.synaptic import conv_geometry

Box = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Geometry:
    """How a synapse node's outputs read its input, axis by axis."""

    kind: str                    # "conv" | "dense"
    out_shape: tuple[int, ...]
    in_shape: tuple[int, ...]
    groups: int = 1
    kernel: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    dilations: tuple[int, ...] = ()

    @property
    def in_per_group(self) -> int:
        return self.in_shape[0] // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_shape[0] // self.groups


def geometry(graph: Graph, node: Node) -> Geometry:
    x, y = graph.values[node.inputs[0]].shape, graph.values[node.outputs[0]].shape
    if node.op == "loihi_conv":
        w = node.params["weight"]
        s, p, d = conv_geometry(node, w.ndim - 2)
        return Geometry("conv", y, x, node.attrs.get("group", 1), tuple(w.shape[2:]), s, p, d)
    return Geometry("dense", y, x)


def taps(o_lo: int, o_hi: int, size: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, int]:
    """Along one axis, for outputs [o_lo, o_hi): the input positions touched (a mask of the
    input axis) and the number of (output, tap) pairs that land inside the input."""
    o = np.arange(o_lo, o_hi)[:, None]
    pos = o * s - p + np.arange(k)[None, :] * d
    inside = (pos >= 0) & (pos < size)
    touched = np.zeros(size, dtype=bool)
    touched[pos[inside]] = True
    return touched, int(inside.sum())


def box_needs(g: Geometry, box: Box, synapse_bits: int, shared: bool) -> dict[str, int]:
    """``neurons``, ``synapse_bits`` and ``input_axons`` of one tile (module docstring)."""
    neurons = int(np.prod([hi - lo for lo, hi in box]))
    if g.kind == "dense":
        rows = int(np.prod([hi - lo for lo, hi in box[:-1]]))
        features = box[-1][1] - box[-1][0]
        fan_in = g.in_shape[-1]
        weights = features * fan_in if shared and rows > 1 else neurons * fan_in
        return {"neurons": neurons, "synapse_bits": weights * synapse_bits, "input_axons": rows * fan_in}
    (c_lo, c_hi), spatial = box[0], box[1:]
    first, last = c_lo // g.out_per_group, (c_hi - 1) // g.out_per_group
    in_channels = (last - first + 1) * g.in_per_group
    touched, pairs = 1, 1
    for axis, (lo, hi) in enumerate(spatial):
        mask, count = taps(lo, hi, g.in_shape[axis + 1], g.kernel[axis], g.strides[axis], g.pads[axis],
                           g.dilations[axis])
        touched *= int(mask.sum())
        pairs *= count
    channels = c_hi - c_lo
    kernel_taps = int(np.prod(g.kernel))
    weights = channels * g.in_per_group * (kernel_taps if shared else pairs)
    return {"neurons": neurons, "synapse_bits": weights * synapse_bits, "input_axons": in_channels * touched}


def input_region(g: Geometry, box: Box) -> tuple[slice, ...] | tuple[np.ndarray, ...]:
    """The input index sets a tile reads: one index array (or slice) per input axis."""
    if g.kind == "dense":
        return tuple(slice(lo, hi) for lo, hi in box[:-1]) + (slice(None),)
    (c_lo, c_hi) = box[0]
    first, last = c_lo // g.out_per_group, (c_hi - 1) // g.out_per_group
    region = [slice(first * g.in_per_group, (last + 1) * g.in_per_group)]
    for axis, (lo, hi) in enumerate(box[1:]):
        mask, _ = taps(lo, hi, g.in_shape[axis + 1], g.kernel[axis], g.strides[axis], g.pads[axis],
                       g.dilations[axis])
        region.append(np.flatnonzero(mask))
    return tuple(region)


def _halvings(n: int, step: int = 1) -> list[int]:
    """n, ceil(n/2), ceil(n/4)… down to ``step``, each a multiple of ``step``."""
    units = n // step
    out, u = [], units
    while True:
        out.append(u * step)
        if u == 1:
            return out
        u = -(-u // 2)


def box_sums(prefix: np.ndarray, shape: tuple[int, ...], size: tuple[int, ...]) -> np.ndarray:
    """Σ of an array over every tile of blocks ``size``, from its zero-padded n-d prefix sum
    (``prefix[i, j, …]`` = Σ of ``[:i, :j, …]``)."""
    starts = [np.arange(0, n, b) for n, b in zip(shape, size)]
    ends = [np.minimum(s + b, n) for s, b, n in zip(starts, size, shape)]
    total = 0
    for corner in itertools.product((0, 1), repeat=len(shape)):
        index = np.ix_(*[ends[a] if c else starts[a] for a, c in enumerate(corner)])
        sign = -1 if (len(shape) - sum(corner)) % 2 else 1
        total = total + sign * prefix[index]
    return total


def prefix_sum(counts: np.ndarray) -> np.ndarray:
    """The zero-padded n-d prefix sum :func:`box_sums` reads."""
    out = np.zeros([n + 1 for n in counts.shape], dtype=np.int64)
    acc = counts.astype(np.int64)
    for axis in range(acc.ndim):
        acc = np.cumsum(acc, axis=axis)
    out[tuple(slice(1, None) for _ in counts.shape)] = acc
    return out


def blocks(g: Geometry, box_limit: dict[str, int], synapse_bits: int, shared: bool,
           fanout: np.ndarray | None = None) -> tuple[int, ...] | None:
    """The block size per axis that cuts the layer into the fewest tiles, each within
    ``box_limit``; ``fanout`` (per neuron, the chip tiles that read it) bounds each tile's
    output axons. None when not even one neuron fits."""
    shape = g.out_shape
    step0 = g.out_per_group if g.kind == "conv" and g.groups > 1 else 1
    axes = [_halvings(n, step0 if i == 0 and g.kind == "conv" else 1) for i, n in enumerate(shape)]
    prefix = prefix_sum(fanout) if fanout is not None and fanout.any() else None
    best, best_tiles = None, None
    for size in itertools.product(*axes):
        tiles = int(np.prod([-(-n // b) for n, b in zip(shape, size)]))
        if best_tiles is not None and tiles >= best_tiles:
            continue
        if not _fits(g, size, box_limit, synapse_bits, shared):
            continue
        if prefix is not None and box_sums(prefix, shape, size).max() > box_limit["output_axons"]:
            continue
        best, best_tiles = size, tiles
    return best


def _fits(g: Geometry, size: tuple[int, ...], limit: dict[str, int], synapse_bits: int, shared: bool) -> bool:
    # the worst tile is an interior one (a full receptive field): try the first and a middle one
    for middle in (False, True):
        box = []
        for n, b in zip(g.out_shape, size):
            lo = (n // 2) // b * b if middle else 0
            box.append((lo, min(lo + b, n)))
        need = box_needs(g, tuple(box), synapse_bits, shared)
        if any(need[k] > limit[k] for k in need):
            return False
    return True


def cut(shape: tuple[int, ...], size: tuple[int, ...]) -> list[Box]:
    """Every tile of blocks ``size`` over ``shape``, in C order."""
    ranges = [[(lo, min(lo + b, n)) for lo in range(0, n, b)] for n, b in zip(shape, size)]
    return [tuple(r) for r in itertools.product(*ranges)]
