"""The partitioned program: every chip layer cut into its tiles, one sub-layer per tile.

    p = partition(q, mapping)      # same spikes as q, bit for bit

A layer that the mapping cuts into several tiles becomes, per tile, what that tile's
core computes:

    # before                                  # after (a conv tile: channels c0:c1, rows r0:r1, …)
    %a = loihi_conv(%x) {W}                   %x.t = slice(%x)            (the tile's receptive field)
    %s = loihi_lif(%a) {bias}                 %a.t = loihi_conv(%x.t) {W[c0:c1]} (pads where the tile
                                                                          meets the border)
                                              %s.t = loihi_lif(%a.t) {bias[c0:c1]}
                                              %s = concat(… %s.t …)       (tiles joined back)

The slice keeps input rows ``[o_lo·s − p_b, (o_hi−1)·s − p_b + (k−1)·d]`` clipped to the
input; the tile's own padding is what fell outside. A dense tile takes rows of the
weight matrix (and of the token axes, if any). Integer arithmetic makes the join exact:
the simulator gives the same spikes as the unpartitioned program, and counting ACs and
neuron updates per sub-layer gives each core's work (:mod:`.timing`).
"""

from __future__ import annotations

import numpy as np

from snnc.backends.loihi.mapping import Mapping
from snnc.backends.loihi.tiling import Box, Geometry, geometry
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Node, Value


def tile_names(layer: str, index: int) -> str:
    return f"{layer}/t{index}"


def _layer_tiles(mapping: Mapping) -> dict[str, list]:
    """layer -> its tiles, in core order (the order the partitioned program numbers them)."""
    tiles: dict[str, list] = {}
    for core in mapping.cores:
        for tile in core.tiles:
            tiles.setdefault(tile.layer, []).append(tile)
    return tiles


def _dendritic(mapping: Mapping) -> set[str]:
    """Neurons fed by several synapses (a dendritic sum): each synapse has its own tiles,
    so a split synapse is joined back before the sum and the neuron stays whole."""
    seen: dict[str, int] = {}
    for neuron in mapping.layers.values():
        if neuron:
            seen[neuron] = seen.get(neuron, 0) + 1
    return {n for n, count in seen.items() if count > 1}


def tile_nodes(mapping: Mapping) -> dict[int, tuple[str, str | None]]:
    """``id(tile)`` -> (its synapse node, its neuron node) in the partitioned program (no
    neuron for a split synapse of a dendritic sum: its neuron is not split)."""
    out, whole = {}, _dendritic(mapping)
    for layer, tiles in _layer_tiles(mapping).items():
        for i, tile in enumerate(tiles):
            if len(tiles) == 1:
                out[id(tile)] = (layer, tile.neuron)
            else:
                neuron = tile.neuron if tile.neuron not in whole else None
                out[id(tile)] = (tile_names(layer, i), neuron and tile_names(neuron, i))
    return out


def partition(graph: Graph, mapping: Mapping) -> Graph:
    """``graph`` with every multi-tile chip layer split per tile (module docstring)."""
    split = {name: [t.box for t in tiles] for name, tiles in _layer_tiles(mapping).items() if len(tiles) > 1}
    whole = _dendritic(mapping)
    layers = {name: (n if n not in whole else None) for name, n in mapping.layers.items()}
    neurons = {layers[name] for name in split if layers[name]}
    out = Graph(graph.name)
    out.meta = dict(graph.meta)
    for name in graph.inputs:
        v = graph.values[name]
        out.add_input(Value(v.name, v.shape, v.dtype, v.kind, v.axes))
    for node in graph.nodes:
        if node.name in neurons:
            continue                            # made with its layer's tiles
        if node.name in split:
            _split_layer(graph, out, node, layers[node.name], split[node.name])
            continue
        out.add_node(Node(node.name, node.op, list(node.inputs), list(node.outputs), dict(node.attrs),
                          dict(node.params), node.source),
                     [_copy(graph.values[o]) for o in node.outputs])
    out.outputs = list(graph.outputs)
    return out


def _copy(v: Value) -> Value:
    return Value(v.name, v.shape, v.dtype, v.kind, v.axes)


def _split_layer(graph: Graph, out: Graph, synapse: Node, neuron_name: str | None, boxes: list[Box]) -> None:
    g = geometry(graph, synapse)
    neuron = graph.node(neuron_name) if neuron_name else None
    parts = []
    for i, box in enumerate(boxes):
        name = tile_names(synapse.name, i)
        x = _tile_input(out, synapse.inputs[0], g, box, name)
        attrs, params = _tile_synapse(synapse, g, box)
        a = emit(out, synapse.op, [x], name=name, attrs=attrs, params=params, source=synapse.source).outputs[0]
        if neuron is not None:
            params = {k: _slice_param(v, box) for k, v in neuron.params.items()}
            a = emit(out, neuron.op, [a], name=tile_names(neuron.name, i), attrs=dict(neuron.attrs),
                     params=params, source=neuron.source).outputs[0]
        parts.append((box, a))
    final = (neuron or synapse).outputs[0]
    _join(out, parts, 0, final, (neuron or synapse).name)


def _tile_input(out: Graph, x: str, g: Geometry, box: Box, name: str) -> str:
    """The part of ``x`` the tile reads (a ``slice`` node), or ``x`` when it reads it all."""
    starts, ends, axes = [], [], []
    if g.kind == "conv":
        (c0, c1), spatial = box[0], box[1:]
        if g.groups > 1:
            first, last = c0 // g.out_per_group, (c1 - 1) // g.out_per_group
            starts.append(first * g.in_per_group)
            ends.append((last + 1) * g.in_per_group)
            axes.append(0)
        for axis, (lo, hi) in enumerate(spatial):
            size = g.in_shape[axis + 1]
            in_lo, in_hi = _span(lo, hi, g, axis)
            if max(in_lo, 0) > 0 or min(in_hi, size) < size:
                starts.append(max(in_lo, 0))
                ends.append(min(in_hi, size))
                axes.append(axis + 1)
    else:
        for axis, (lo, hi) in enumerate(box[:-1]):
            if (lo, hi) != (0, g.in_shape[axis]):
                starts.append(lo)
                ends.append(hi)
                axes.append(axis)
    if not axes:
        return x
    return emit(out, "slice", [x], name=f"{name}.in", attrs={"starts": starts, "ends": ends, "axes": axes,
                                                              "steps": [1] * len(axes)}).outputs[0]


def _span(lo: int, hi: int, g: Geometry, axis: int) -> tuple[int, int]:
    """Input positions [in_lo, in_hi) the outputs [lo, hi) of one spatial axis reach."""
    s, k, d, p = g.strides[axis], g.kernel[axis], g.dilations[axis], g.pads[axis]
    return lo * s - p, (hi - 1) * s - p + (k - 1) * d + 1


def _tile_synapse(synapse: Node, g: Geometry, box: Box) -> tuple[dict, dict]:
    attrs = dict(synapse.attrs)
    w = synapse.params["weight"]
    if g.kind == "dense":
        f0, f1 = box[-1]
        return attrs, {"weight": np.ascontiguousarray(w[f0:f1])}
    (c0, c1), spatial = box[0], box[1:]
    if g.groups > 1:
        attrs["group"] = (c1 - 1) // g.out_per_group - c0 // g.out_per_group + 1
    rank = len(spatial)
    begins, ends = [], []
    for axis, (lo, hi) in enumerate(spatial):
        in_lo, in_hi = _span(lo, hi, g, axis)
        begins.append(max(-in_lo, 0))
        ends.append(max(in_hi - g.in_shape[axis + 1], 0))
    attrs["pads"] = begins + ends
    assert len(attrs["pads"]) == 2 * rank
    return attrs, {"weight": np.ascontiguousarray(w[c0:c1])}


def _slice_param(p: np.ndarray, box: Box) -> np.ndarray:
    """A per-neuron parameter (broadcast against the layer's shape, right-aligned) cut to a tile."""
    offset = len(box) - p.ndim
    index = tuple(slice(None) if p.shape[i] == 1 else slice(*box[i + offset]) for i in range(p.ndim))
    return np.ascontiguousarray(p[index])


def _join(out: Graph, parts: list[tuple[Box, str]], axis: int, final: str, base: str) -> str:
    """Concatenate tile outputs back into one value, axis by axis; the result is named
    ``final`` (the layer's original output), intermediate joins get fresh names."""
    groups: dict[tuple[int, int], list[tuple[Box, str]]] = {}
    for box, value in parts:
        groups.setdefault(box[axis], []).append((box, value))
    if len(groups) == 1:                       # the tiles differ on a later axis only
        return _join(out, parts, axis + 1, final, base)
    pieces = [group[0][1] if len(group) == 1 else _join(out, group, axis + 1, "", base)
              for _, group in sorted(groups.items())]
    name = out.fresh_name(f"{base}/join{axis}")
    return emit(out, "concat", pieces, name=name, attrs={"axis": axis}, outputs=[final or name]).outputs[0]
