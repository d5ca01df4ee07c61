"""Every core's load recomputed from an artifact (program.json + mapping.json), written
independently of snnc.backends.loihi.mapping/tiling: explicit loops over positions and
taps, index sets of the neurons themselves."""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph


def _axis_taps(lo, hi, size, k, s, p, d):
    """Per axis: the input positions the outputs [lo, hi) touch, and the (output, tap)
    pairs landing inside the input."""
    touched, pairs = set(), 0
    for o in range(lo, hi):
        for j in range(k):
            i = o * s - p + j * d
            if 0 <= i < size:
                touched.add(i)
                pairs += 1
    return sorted(touched), pairs


def _tile_inputs(program: Graph, layer: str, box) -> tuple[np.ndarray, int, int]:
    """(flat indices of the input neurons a tile reads, its stored weights (expanded),
    its stored weights (kernels shared))."""
    node = program.node(layer)
    x = program.values[node.inputs[0]]
    w = node.params["weight"]
    if node.op == "loihi_dense":
        rows = [range(lo, hi) for lo, hi in box[:-1]]
        index = np.ix_(*[np.array(r) for r in rows], np.arange(x.shape[-1]))
        neurons = int(np.prod([hi - lo for lo, hi in box]))
        flat = np.ravel_multi_index(index, x.shape).ravel() if rows else np.arange(x.shape[-1])
        return flat, neurons * w.shape[1], neurons * w.shape[1]
    spatial = w.ndim - 2
    s = node.attrs.get("strides") or [1] * spatial
    p = node.attrs.get("pads") or [0] * 2 * spatial
    d = node.attrs.get("dilations") or [1] * spatial
    group = node.attrs.get("group", 1)
    out_per_group, in_per_group = w.shape[0] // group, w.shape[1]
    (c_lo, c_hi), rest = box[0], box[1:]
    groups = range(c_lo // out_per_group, (c_hi - 1) // out_per_group + 1)
    channels = [c for g in groups for c in range(g * in_per_group, (g + 1) * in_per_group)]
    axes, pairs = [np.array(channels)], 1
    for a, (lo, hi) in enumerate(rest):
        touched, n = _axis_taps(lo, hi, x.shape[a + 1], w.shape[a + 2], s[a], p[a], d[a])
        axes.append(np.array(touched, dtype=np.int64))
        pairs *= n
    flat = np.ravel_multi_index(np.ix_(*axes), x.shape).ravel()
    expanded = (c_hi - c_lo) * in_per_group * pairs
    shared = (c_hi - c_lo) * in_per_group * int(np.prod(w.shape[2:]))
    return flat, expanded, shared


def _owners(program: Graph, mapping: dict) -> dict[str, np.ndarray]:
    """chip neuron value (and its reshapes) -> per-neuron core index (-1: host)."""
    owner = {}
    for core in mapping["cores"]:
        for tile in core["tiles"]:
            value = program.node(tile["neuron"] or tile["layer"]).outputs[0]
            if value not in owner:
                owner[value] = np.full(program.values[value].shape, -1, np.int64)
            owner[value][tuple(slice(lo, hi) for lo, hi in tile["box"])] = core["index"]
    for node in program.nodes:
        if node.op == "reshape" and node.inputs[0] in owner:
            owner[node.outputs[0]] = owner[node.inputs[0]].reshape(program.values[node.outputs[0]].shape)
    return owner


def recompute_loads(program: Graph, mapping: dict) -> list[dict]:
    """The load of every core of ``mapping``, in its order."""
    target = mapping["target"]
    bits = target["synapse_bits"]["value"]
    shared = bool(target["conv_shares_weights"]["value"])
    owner = _owners(program, mapping)
    loads = [{"neurons": 0, "synapse_bits": 0, "input_axons": 0, "output_axons": 0} for _ in mapping["cores"]]
    for core in mapping["cores"]:
        load = loads[core["index"]]
        reads: dict[str, list] = {}
        for tile in core["tiles"]:
            node = program.node(tile["layer"])
            flat, expanded, kernel = _tile_inputs(program, tile["layer"], tile["box"])
            load["neurons"] += int(np.prod([hi - lo for lo, hi in tile["box"]]))
            # a conv kernel is stored once per core where the target shares kernels; a dense
            # layer always stores a row of weights per neuron
            load["synapse_bits"] += bits * (kernel if shared and node.op == "loihi_conv" else expanded)
            reads.setdefault(node.inputs[0], []).append(flat)
        for value, flats in reads.items():
            union = np.unique(np.concatenate(flats))
            load["input_axons"] += int(union.size)
            if value in owner:
                sources = owner[value].ravel()[union]
                for src, n in zip(*np.unique(sources[sources >= 0], return_counts=True)):
                    loads[src]["output_axons"] += int(n)
    return loads


def check_limits(loads: list[dict], target) -> list[str]:
    limits = {"neurons": int(target.neurons_per_core), "synapse_bits": int(target.synaptic_memory_bits),
              "input_axons": int(target.input_axons_per_core), "output_axons": int(target.output_axons_per_core)}
    return [f"core {i}: {k} {load[k]} > {limits[k]}" for i, load in enumerate(loads) for k in limits
            if load[k] > limits[k]]
