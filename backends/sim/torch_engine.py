"""The optional torch engine: convolutions, linear layers and matrix products through
``torch.nn.functional`` (float32, CPU), the rest through the numpy reference.

Same semantics as the registry's numpy ``run`` (same layouts, ONNX padding and groups);
sums may round differently in the last bit, so a spike exactly at threshold can flip.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.errors import SnncError
from snnc.ir.ops.common import align
from snnc.ir.ops.synaptic import conv_geometry


class TorchEngine:
    OPS = frozenset({"conv", "linear", "matmul"})

    def __init__(self, torch):
        self.torch = torch
        self.F = torch.nn.functional
        self._weights: dict[tuple[int, str], object] = {}

    def _param(self, node, name):
        key = (id(node), name)
        if key not in self._weights:
            self._weights[key] = self.torch.from_numpy(np.array(node.params[name], dtype=np.float32))
        return self._weights[key]

    def run(self, node, arrays):
        torch = self.torch
        with torch.no_grad():
            xs = [torch.from_numpy(_writable(a)) for a in (align(arrays) if node.op == "matmul" else arrays)]
            if node.op == "matmul":
                y = torch.matmul(xs[0], xs[1])
            elif node.op == "linear":
                y = self.F.linear(xs[0], self._param(node, "weight"),
                                  self._param(node, "bias") if "bias" in node.params else None)
            else:
                y = self._conv(node, xs[0])
        return [y.numpy()]

    def _conv(self, node, x):
        w = self._param(node, "weight")
        spatial = w.dim() - 2
        if spatial not in (1, 2, 3):
            raise SnncError(f"torch engine: {spatial}-d convolution {node.name!r} is not supported")
        s, p, d = conv_geometry(node, spatial)
        begin, end = p[:spatial], p[spatial:]
        if begin != end:        # asymmetric ONNX padding: pad explicitly
            width = []
            for b, e in zip(reversed(begin), reversed(end)):
                width += [b, e]
            x = self.F.pad(x, width)
            begin = (0,) * spatial
        conv = (self.F.conv1d, self.F.conv2d, self.F.conv3d)[spatial - 1]
        bias = self._param(node, "bias") if "bias" in node.params else None
        return conv(x, w, bias, stride=s, padding=tuple(begin), dilation=d, groups=node.attrs["group"])


def _writable(a: np.ndarray) -> np.ndarray:
    """float32, contiguous, writable (torch refuses read-only views, e.g. broadcast inputs)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return a if a.flags.writeable else a.copy()


def load() -> TorchEngine:
    try:
        import torch
    except ImportError as err:
        raise SnncError("engine 'torch' needs PyTorch: pip install torch (or use --engine numpy)") from err
    return TorchEngine(torch)
