"""lava-dl netx's network description (HDF5 ``.net``) for chain networks.

netx (``lava.lib.dl.netx.hdf5.Network``) reads ``layer/0 … layer/n-1``; each layer has a
``type`` (``input``, ``conv``, ``flatten``, ``dense``; netx cannot load pooling or
average layers) and, as its ``NetDict`` names them, array keys ``shape`` (C, H, W: netx
reverses it to Lava's W, H, C), ``stride``/``padding``/``dilation``/``groups`` (conv),
integer ``weight`` (conv: ``[O, C/g, kh, kw]``, PyTorch's cross-correlation order, which
netx flips for Lava's convolution; dense: ``[O, I]``), an optional integer ``bias``, and
a ``neuron`` group: ``type`` ``CUBA``, ``vThMant``, ``iDecay`` (netx passes
``du = iDecay − 1``), ``vDecay`` (dv), ``refDelay``.

snnc writes one when the chip is a chain: its input read by the first synaptic layer,
then each ``loihi_conv``/``loihi_dense`` + ``loihi_lif`` reading the previous layer's
spikes (a reshape between them is netx's ``flatten``). A max-pool quantised as an all-ones
depthwise conv is a conv layer like any other. What netx cannot express is said in the
returned notes (a bias that is not a multiple of netx's 2⁶ bias unit, the delayed start
snnc gives deep neurons).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc.ir.graph import Graph, Node
from snnc.ir.registry import SYNAPTIC, TEMPORAL, ops_with

NEURON_KEYS = ("type", "vThMant", "iDecay", "vDecay", "refDelay")
CONV_KEYS = ("type", "shape", "weight", "stride", "padding", "dilation", "groups", "neuron")
DENSE_KEYS = ("type", "shape", "weight", "neuron")


def chain(graph: Graph) -> tuple[list[Node], str] | tuple[None, str]:
    """The chip layers in order when ``graph`` is a chain netx can load, else why not."""
    layers, value = [], None
    synapses = [n for n in graph.nodes if n.op in ops_with(SYNAPTIC, TEMPORAL)]
    if not synapses:
        return None, "no Loihi layers"
    for syn in synapses:
        readers = graph.users(syn.outputs[0])
        if len(readers) != 1 or readers[0].op != "loihi_lif":
            return None, f"{syn.name!r} is read back by the host: a netx layer ends in neurons"
        src = syn.inputs[0]
        while graph.producer(src) is not None and graph.producer(src).op == "reshape":
            src = graph.producer(src).inputs[0]
        if value is not None and src != value:
            return None, f"{syn.name!r} does not read the previous layer: netx networks are chains"
        layers.append(syn)
        value = readers[0].outputs[0]
    return layers, ""


def write_netx(graph: Graph, path: str | Path) -> list[str]:
    """Write ``graph``'s chip chain to ``path`` (see the module docstring); returns notes on
    what netx cannot represent. Raises ValueError when the graph is not a chain."""
    import h5py

    layers, why = chain(graph)
    if layers is None:
        raise ValueError(why)
    notes: list[str] = []
    with h5py.File(path, "w") as f:
        root = f.create_group("layer")
        first = graph.values[layers[0].inputs[0]]
        _input_layer(root.create_group("0"), first.shape)
        index = 1
        prev_shape = first.shape
        for syn in layers:
            lif = graph.users(syn.outputs[0])[0]
            if syn.op == "loihi_dense" and len(prev_shape) > 1:
                g = root.create_group(str(index))
                g.create_dataset("type", data=np.bytes_("flatten"))
                g.create_dataset("shape", data=np.array([int(np.prod(prev_shape))]))
                index += 1
            g = root.create_group(str(index))
            _synapse_layer(g, syn, graph.values[syn.outputs[0]].shape, notes)
            _neuron(g.create_group("neuron"), lif, notes)
            bias = _bias(lif, notes)
            if bias is not None:
                g.create_dataset("bias", data=bias)
            prev_shape = graph.values[lif.outputs[0]].shape
            index += 1
    return notes


def _input_layer(g, shape) -> None:
    g.create_dataset("type", data=np.bytes_("input"))
    g.create_dataset("shape", data=np.array(_chw(shape)))
    n = g.create_group("neuron")
    n.create_dataset("type", data=np.bytes_("CUBA"))
    for key, value in (("vThMant", 0), ("iDecay", 4096), ("vDecay", 4096), ("refDelay", 1)):
        n.create_dataset(key, data=np.array(value))


def _chw(shape) -> list[int]:
    """netx stores (C, H, W); a [C, L] value is (C, 1, L), a [F] one (F,)."""
    shape = [int(d) for d in shape]
    return shape[:1] + [1] + shape[1:] if len(shape) == 2 else shape


def _synapse_layer(g, syn: Node, out_shape, notes: list[str]) -> None:
    exp = syn.attrs.get("weight_exp", 0)
    w = syn.params["weight"].astype(np.int64) << max(exp, 0)
    if exp < 0:
        notes.append(f"{syn.name!r}: weight_exp {exp} is not stored; netx derives its own exponent "
                     "from the weights (optimize_weight_bits)")
    if syn.op == "loihi_conv":
        spatial = w.ndim - 2
        strides = list(syn.attrs.get("strides") or [1] * spatial)
        pads = list(syn.attrs.get("pads") or [0] * 2 * spatial)[:spatial]
        dil = list(syn.attrs.get("dilations") or [1] * spatial)
        if spatial == 1:
            w, strides, pads, dil = w[:, :, None, :], [1] + strides, [0] + pads, [1] + dil
        g.create_dataset("type", data=np.bytes_("conv"))
        g.create_dataset("stride", data=np.array(strides))
        g.create_dataset("padding", data=np.array(pads))
        g.create_dataset("dilation", data=np.array(dil))
        g.create_dataset("groups", data=np.array(syn.attrs.get("group", 1)))
    else:
        g.create_dataset("type", data=np.bytes_("dense"))
    g.create_dataset("shape", data=np.array(_chw(out_shape)))
    g.create_dataset("weight", data=w.astype(np.int32))


def _neuron(g, lif: Node, notes: list[str]) -> None:
    g.create_dataset("type", data=np.bytes_("CUBA"))
    g.create_dataset("vThMant", data=np.array(int(lif.attrs.get("vth", 10))))
    g.create_dataset("iDecay", data=np.array(int(lif.attrs.get("du", 4095)) + 1))
    g.create_dataset("vDecay", data=np.array(int(lif.attrs.get("dv", 0))))
    g.create_dataset("refDelay", data=np.array(1))
    if lif.attrs.get("start", 0) and "bias_mant" in lif.params and np.any(lif.params["bias_mant"]):
        notes.append(f"{lif.name!r}: netx has no delayed start; its neurons charge their bias during the "
                     f"first {lif.attrs['start']} steps")


def _bias(lif: Node, notes: list[str]) -> np.ndarray | None:
    """The bias in netx's unit (netx sets bias_exp = 6), when it is a whole number of them."""
    if "bias_mant" not in lif.params or not np.any(lif.params["bias_mant"]):
        return None
    full = lif.params["bias_mant"].astype(np.int64) << lif.params.get("bias_exp", np.zeros(1, np.int64)).astype(np.int64)
    if np.any(full % 64):
        notes.append(f"{lif.name!r}: its bias is not a multiple of netx's unit 2^6; rounded")
    return np.round(full / 64).astype(np.int32).reshape(-1)
