"""``avgpool-into-conv``: an average pool feeding a conv is one conv with a larger kernel.

Averaging spikes gives fractions (k² spikes -> multiples of 1/k²), so the conv after it
would read non-spike values and cost MACs. But both are linear, and for a pool whose
windows tile the input (kernel = stride = k, no padding, dilation 1, sizes divisible by
k) the composition is exactly a conv on the spikes themselves:

    conv_W,s,p(avgpool_k(X))[y] = Σ_i W[i] · (1/k²) Σ_a X[(y·s + i − p)·k + a]
                                = conv_W',s·k,p·k(X)[y],   W'[i·k + a] = W[i] / k²

(per spatial axis; zero padding of p pooled cells is p·k zero input cells). Each input
spike still reaches the same outputs through the same number of synapses, so the layer
becomes spike-driven at no extra synaptic cost.

    # before -> after
    %p = avgpool[k=2, s=2](%s)                     (gone)
    %y = conv[W 3x3, s=1, p=1](%p)          ->     %y = conv[W' 6x6 = W⊗1/4, s=2, p=2](%s)
"""

from __future__ import annotations

import numpy as np

from snnc.ir.graph import Graph
from snnc.ir.ops.pool_norm import pool_geometry
from snnc.ir.ops.synaptic import conv_geometry
from snnc.ir.rewrite import Match, Pat, Rule


def _check(graph: Graph, m: Match) -> str | None:
    pool, conv = m["pool"], m["conv"]
    spatial = len(pool.attrs["kernel_shape"])
    k, s, p, d = pool_geometry(pool, spatial)
    if any(ki != si for ki, si in zip(k, s)) or any(p) or any(di != 1 for di in d):
        return "the pool's windows do not tile its input (kernel != stride, padding or dilation)"
    shape = graph.values[pool.inputs[0]].shape
    if any(n % ki for n, ki in zip(shape[1:], k)):
        return f"the pooled input {list(shape)} is not a multiple of the kernel {list(k)}"
    _, _, cd = conv_geometry(conv, spatial)
    if any(x != 1 for x in cd):
        return "the conv is dilated"
    return None


def _rewrite(graph: Graph, m: Match) -> str | None:
    pool, conv = m["pool"], m["conv"]
    spatial = len(pool.attrs["kernel_shape"])
    k = tuple(pool.attrs["kernel_shape"])
    cs, cp, _ = conv_geometry(conv, spatial)
    w = conv.params["weight"].astype(np.float64)
    for axis, ki in enumerate(k):
        w = np.repeat(w, ki, axis=2 + axis)
    conv.params = {**conv.params, "weight": (w / float(np.prod(k))).astype(conv.params["weight"].dtype)}
    conv.attrs = {**conv.attrs, "strides": [si * ki for si, ki in zip(cs, k)],
                  "pads": [pi * k[i % spatial] for i, pi in enumerate(cp)], "dilations": [1] * spatial}
    graph.replace_uses(pool.outputs[0], pool.inputs[0])
    graph.remove_node(pool.name)
    return None


#: the rule: an average pool read by a conv alone, folded into the conv
AVGPOOL_INTO_CONV = Rule("avgpool-into-conv",
                         Pat("conv", inputs=[Pat("avgpool", single_use=True, name="pool")], name="conv"),
                         _rewrite, check=_check)
