"""Core mapping: every chip layer cut into tiles, tiles packed onto cores, cores onto chips.

    m = map_cores(q, get_target("loihi2"))      # q: a quantised graph
    m.cores[3].load, m.chips, m.host

1. The chip layers are the ``loihi_conv``/``loihi_dense`` nodes and the chip neuron
   (``loihi_lif``, or ``loihi_mt``: a multi-threshold neuron, which only a target with
   graded spikes carries; Loihi 1 is refused) reading each (or the plain compartments the
   host reads back).
2. Each layer is cut into the fewest tiles that each fit a core (:mod:`.tiling`); a
   layer none of whose neurons fits a core (a fan-in beyond the axon limit) goes to the
   host partition, named, with its cost.
3. Tiles are packed onto cores in layer order, next-fit, as long as a core's neurons,
   synaptic memory and input axons stay within the target's table.
4. Loads are recomputed exactly per core: input axons as the distinct presynaptic
   neurons all its tiles read (tiles of q, k and v reading the same spikes share them);
   output axons as Σ over its neurons of the distinct cores they feed. Where a core sends
   more axons than the table allows, the layers on it are cut finer and all is redone.
5. Every node that is not a chip layer is the host partition, each with its reason and
   its dense cost in MACs per sample and step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snnc.backends.loihi import tiling
from snnc.backends.loihi.chip import CHIP_NEURONS, dendritic_sum
from snnc.backends.loihi.targets import Target
from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph
from snnc.ir.registry import SYNAPTIC, TEMPORAL, get, ops_with

SYNAPSES = ops_with(SYNAPTIC, TEMPORAL)     # loihi_dense, loihi_conv: synapses that see time
ALIASES = ("reshape",)


@dataclass
class Tile:
    layer: str                    # the synapse node
    neuron: str | None            # the loihi_lif reading it, if any
    box: tiling.Box               # [lo, hi) per axis of the layer's neurons
    needs: dict[str, int]

    def to_dict(self) -> dict:
        return {"layer": self.layer, "neuron": self.neuron, "box": [list(b) for b in self.box], "needs": self.needs}


@dataclass
class Core:
    index: int
    chip: int
    tiles: list[Tile] = field(default_factory=list)
    load: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"index": self.index, "chip": self.chip, "load": self.load,
                "tiles": [t.to_dict() for t in self.tiles]}


@dataclass
class HostOp:
    node: str
    op: str
    reason: str
    macs_per_step: int            # dense cost per sample per evaluation
    steps: str                    # "T" (every step) or "1" (once per sample)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Mapping:
    target: Target
    cores: list[Core]
    host: list[HostOp]
    layers: dict[str, str | None]            # synapse node -> its neuron node (chip layers)
    violations: list[str] = field(default_factory=list)

    @property
    def chips(self) -> int:
        return max((c.chip for c in self.cores), default=-1) + 1

    def to_dict(self) -> dict:
        return {"target": self.target.to_dict(), "chips": self.chips, "cores": [c.to_dict() for c in self.cores],
                "host": [h.to_dict() for h in self.host], "layers": self.layers, "violations": self.violations,
                "limits": self.target.limits()}


def chip_layers(graph: Graph) -> dict[str, str | None]:
    """synapse node -> the loihi_lif reading its output (None: the host reads it back); each
    synapse of a dendritic sum maps to the neuron the sum feeds (its compartments are then
    counted once per synapse: an over-estimate of the neurons, not of the synapses)."""
    layers = {}
    for node in graph.nodes:
        if node.op in SYNAPSES:
            readers = graph.users(node.outputs[0])
            if len(readers) == 1 and dendritic_sum(graph, readers[0]):   # one of a neuron's synapses
                readers = graph.users(readers[0].outputs[0])
            lif = [r for r in readers if r.op in CHIP_NEURONS]
            layers[node.name] = lif[0].name if len(lif) == 1 and len(readers) == 1 else None
    return layers


def map_cores(graph: Graph, target: Target) -> Mapping:
    """The mapping of quantised ``graph`` onto ``target`` (module docstring)."""
    _check_graded_out(graph, target)
    layers = chip_layers(graph)
    geometries = {name: tiling.geometry(graph, graph.node(name)) for name in layers}
    shared = bool(int(target.conv_shares_weights))
    bits = int(target.synapse_bits)
    limits = target.limits()
    root = _alias_roots(graph)
    readers: dict[str, np.ndarray] = {}      # chip neuron value -> tiles reading each neuron
    unmapped: dict[str, str] = {}
    layer_tiles: dict[str, list[Tile]] = {}
    # readers first: a layer's output axons depend on how the layers reading it are cut
    for name in reversed(list(layers)):
        geo = geometries[name]
        out = graph.node(layers[name] or name).outputs[0]
        reason = _cannot_map(graph.node(name), target)
        size = None if reason else tiling.blocks(geo, limits, bits, shared and geo.kind == "conv", readers.get(out))
        if size is None:
            reason = reason or _too_big(geo, limits, bits, shared, target)
            unmapped[name] = reason
            if layers[name]:
                unmapped[layers[name]] = f"its layer {name!r} stays on the host: {reason}"
            continue
        fanout = readers.get(out)
        tiles = []
        for box in tiling.cut(geo.out_shape, size):
            needs = tiling.box_needs(geo, box, bits, shared and geo.kind == "conv")
            needs["output_axons"] = int(fanout[tuple(slice(lo, hi) for lo, hi in box)].sum()) if fanout is not None else 0
            tiles.append(Tile(name, layers[name], box, needs))
        layer_tiles[name] = tiles
        x = graph.node(name).inputs[0]
        if x in root:                        # read from chip neurons: count this layer's tiles
            src, shape = root[x], graph.values[x].shape
            counts = np.zeros(shape, np.int64)
            for tile in tiles:
                counts[np.ix_(*_as_index(tiling.input_region(geo, tile.box), shape))] += 1
            readers[src] = readers.get(src, 0) + counts.reshape(graph.values[src].shape)
    tiles = [t for name in layers for t in layer_tiles.get(name, [])]
    cores = _pack(tiles, limits, int(target.cores_per_chip))
    _exact_loads(graph, cores, geometries)
    mapped = {k: v for k, v in layers.items() if k not in unmapped}
    violations = [f"core {c.index}: {k} {c.load[k]:,} > {limits[k]:,}" for c in cores for k in limits
                  if c.load[k] > limits[k]]
    return Mapping(target, cores, host_partition(graph, mapped, unmapped), mapped, violations)


def _check_graded_out(graph: Graph, target: Target) -> None:
    """A multi-threshold neuron's only output is a graded spike: a target with binary
    spikes only (Loihi 1) cannot carry it, and snnc will not pretend otherwise."""
    if int(target.message_bits):
        return
    names = [n.name for n in graph.nodes if n.op == "loihi_mt"]
    if names:
        more = f" (and {len(names) - 1} more multi-threshold neurons)" if len(names) > 1 else ""
        raise SnncError(f"multi-threshold neuron {names[0]!r}{more} emits graded spikes, which {target.name} cannot "
                        "carry: use --target loihi2")


def _cannot_map(node, target: Target) -> str | None:
    bits_in = node.attrs["num_message_bits"]
    if bits_in > int(target.message_bits):
        carries = f"{int(target.message_bits)}-bit" if int(target.message_bits) else "only binary"
        return f"it reads {bits_in}-bit graded spikes; {target.name} carries {carries} spikes"
    return None


def _too_big(geo, limits, bits, shared, target) -> str:
    middle = tuple((n // 2, n // 2 + 1) for n in geo.out_shape)      # a full receptive field
    one = tiling.box_needs(geo, middle, bits, shared and geo.kind == "conv")
    worst = max(one, key=lambda k: one[k] / limits[k])
    if one[worst] <= limits[worst]:
        return f"its neurons each feed more chip tiles than a {target.name} core can send to"
    return (f"one neuron needs {one[worst]:,} {worst.replace('_', ' ')}, more than a {target.name} "
            f"core's {limits[worst]:,}")


def _alias_roots(graph: Graph) -> dict[str, str]:
    """chip neuron value (a loihi_lif output) and every reshape of it -> that neuron value."""
    root = {}
    for node in graph.nodes:
        if node.op in CHIP_NEURONS:
            root[node.outputs[0]] = node.outputs[0]
        elif node.op in ALIASES and node.inputs[0] in root:
            root[node.outputs[0]] = root[node.inputs[0]]
    return root


def _pack(tiles: list[Tile], limits: dict[str, int], per_chip: int) -> list[Core]:
    """Next-fit in layer order: a tile joins the current core while the sums fit."""
    cores: list[Core] = []
    keys = ("neurons", "synapse_bits", "input_axons", "output_axons")
    for tile in tiles:
        core = cores[-1] if cores else None
        if core is None or any(sum(t.needs[k] for t in core.tiles) + tile.needs[k] > limits[k] for k in keys):
            core = Core(len(cores), len(cores) // per_chip)
            cores.append(core)
        core.tiles.append(tile)
    return cores


def _exact_loads(graph: Graph, cores: list[Core], geometries: dict[str, tiling.Geometry]) -> None:
    owner = _owners(graph, cores)
    for core in cores:
        core.load = {"neurons": sum(t.needs["neurons"] for t in core.tiles),
                     "synapse_bits": sum(t.needs["synapse_bits"] for t in core.tiles),
                     "input_axons": 0, "output_axons": 0}
    for core in cores:
        regions: dict[str, list] = {}
        for tile in core.tiles:
            x = graph.node(tile.layer).inputs[0]
            shape = graph.values[x].shape
            regions.setdefault(x, []).append(_as_index(tiling.input_region(geometries[tile.layer], tile.box), shape))
        for x, boxes in regions.items():
            sources = owner.get(x)
            # the union of the tiles' input regions, inside their bounding box
            lo = [min(int(b[a].min()) for b in boxes) for a in range(len(boxes[0]))]
            hi = [max(int(b[a].max()) for b in boxes) + 1 for a in range(len(boxes[0]))]
            mask = np.zeros([h - l for l, h in zip(lo, hi)], dtype=bool)
            for b in boxes:
                mask[np.ix_(*[idx - l for idx, l in zip(b, lo)])] = True
            core.load["input_axons"] += int(mask.sum())
            if sources is None:
                continue                       # read from the host
            window = sources[tuple(slice(l, h) for l, h in zip(lo, hi))][mask]
            counts = np.bincount(window, minlength=len(cores) + 1)[1:]
            for src in np.flatnonzero(counts):
                cores[src].load["output_axons"] += int(counts[src])


def _as_index(region, shape) -> list[np.ndarray]:
    return [np.arange(n)[r] if isinstance(r, slice) else r for r, n in zip(region, shape)]


def _owners(graph: Graph, cores: list[Core]) -> dict[str, np.ndarray]:
    """chip value -> per-neuron (core index + 1), 0 where the host computes it; through
    neurons (same neurons as the synapse) and reshapes (renamed neurons)."""
    owner: dict[str, np.ndarray] = {}
    for core in cores:
        for tile in core.tiles:
            node = graph.node(tile.neuron or tile.layer)
            value = graph.values[node.outputs[0]]
            if node.outputs[0] not in owner:
                owner[node.outputs[0]] = np.zeros(value.shape, np.int64)
            owner[node.outputs[0]][tuple(slice(lo, hi) for lo, hi in tile.box)] = core.index + 1
    for node in graph.nodes:
        if node.op in ALIASES and node.inputs[0] in owner:
            owner[node.outputs[0]] = owner[node.inputs[0]].reshape(graph.values[node.outputs[0]].shape)
    return owner


def host_partition(graph: Graph, mapped: dict[str, str | None], unmapped: dict[str, str]) -> list[HostOp]:
    """Every node the neurocores do not run, why, and its dense cost."""
    reasons = {h["node"]: h["reason"] for h in graph.meta.get("loihi", {}).get("host", [])}
    on_chip = set(mapped) | {v for v in mapped.values() if v}
    chip_values = {graph.node(n).outputs[0] for n in on_chip}
    host = []
    for node in graph.nodes:
        if node.name in on_chip or node.op == "constant":
            continue
        if node.op in ALIASES and node.inputs[0] in chip_values:
            chip_values.add(node.outputs[0])          # a reshape of chip neurons: free
            continue
        if node.op == "add" and len(set(node.inputs)) == 2 and all(v in chip_values for v in node.inputs) \
                and all(graph.values[v].shape == graph.values[node.outputs[0]].shape for v in node.inputs):
            chip_values.add(node.outputs[0])          # a sum of chip spike streams: two connections, free
            continue
        ins, outs = graph.ins(node), graph.outs(node)
        reason = unmapped.get(node.name) or (_reason(node, ins) if node.op in _OWN_REASON else
                                             reasons.get(node.name) or _reason(node, ins))
        host.append(HostOp(node.name, node.op, reason,
                           int(get(node.op).flops(node, ins, outs)), "T" if outs[0].timed else "1"))
    return host


_OWN_REASON = ("loihi_encode", "loihi_dequant", "matmul")


def _reason(node, ins) -> str:
    if node.op == "matmul":
        return "attention between two dynamic tensors: no fixed synapses to store"
    if node.op in ("lif", "if"):
        return "a float neuron: its input is not a synaptic layer on the chip"
    if node.op == "loihi_encode":
        return "input encoding: the host injects graded spikes"
    if node.op == "loihi_dequant":
        if ins[0].kind.is_graded_spike:
            return "reads a multi-threshold neuron's graded spikes back and scales them (for a host op)"
        return "reads a layer's currents back and scales them"
    if node.op in SYNAPSES:
        return "a chip layer that did not fit"
    if not any(v.timed for v in ins):
        return "runs once per sample, outside time (decoders, heads)"
    return f"{node.op} is not a neurocore operation"
