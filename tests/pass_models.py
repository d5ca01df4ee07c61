"""Models and comparisons the pass tests share.

Every model is built here and exported once per test run (``functools.cache``): the
reference transformers with random BatchNorm statistics, and random spiking networks
over the layers ``fold-bn`` must handle (grouped/depthwise Conv2d, ConvTranspose2d,
Conv1d, Linear, each + BatchNorm, with or without bias), with BN statistics that
include tiny variances and negative scales.

onnxruntime runs the reference file with graph optimisations OFF: its default level
fuses Conv+BatchNormalization itself, and the test would then compare snnc's folding
with onnxruntime's instead of with the model as written.
"""

from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from snnc.ir.graph import Graph
from snnc.models import spikformer, spikingformer
from snnc.nn import IF, LIF
from snnc.onnx.export import to_onnx
from snnc.onnx.ir_to_onnx import graph_to_onnx

from conftest import randomize_batchnorm
from onnx_helpers import neuron_nodes, with_outputs


@functools.cache
def reference_onnx(name: str):
    """Spikformer-tiny / Spikingformer-tiny, random weights and BN statistics, T x N = 2 x 2."""
    torch.manual_seed(0)
    model = {"spikformer": spikformer, "spikingformer": spikingformer}[name]("tiny").eval()
    randomize_batchnorm(model, seed=1)
    return to_onnx(model, torch.rand(2, 2, 3, 16, 16))


def wild_batchnorm(model: nn.Module, seed: int) -> None:
    """BN statistics a trained network can have: variances down to 1e-7 (below epsilon),
    negative and tiny scales, means far from zero."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_var.copy_(10 ** (torch.rand(n, generator=g) * 7 - 7) * (torch.rand(n, generator=g) < 0.3)
                                + torch.rand(n, generator=g) * 2 * (torch.rand(n, generator=g) >= 0.3))
            m.running_mean.copy_((torch.rand(n, generator=g) - 0.5) * 2)
            m.weight.data.copy_((torch.rand(n, generator=g) - 0.4) * 2)
            m.bias.data.copy_((torch.rand(n, generator=g) - 0.5))


class RandomNet(nn.Module):
    """[T, N, 2, 6, 6] -> [N, 3]: grouped Conv2d+BN -> neuron -> grouped ConvTranspose2d+BN
    -> neuron -> Conv1d+BN1d (tokens) -> neuron -> Linear+BN1d -> neuron -> Linear head."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        pick = lambda options: options[int(torch.randint(len(options), (1,), generator=g))]  # noqa: E731
        bias = lambda: bool(pick([0, 1]))  # noqa: E731
        neuron = lambda: pick([lambda: LIF(tau=2.0), lambda: LIF(tau=3.0, v_reset=None),  # noqa: E731
                               lambda: IF(v_threshold=0.7), lambda: LIF(tau=1.5, decay_input=False)])()
        c1 = pick([2, 4, 6])
        g1 = pick([1, 2])                                  # in channels: 2
        self.conv = nn.Conv2d(2, c1, 3, padding=1, groups=g1, bias=bias())
        self.bn, self.sn = nn.BatchNorm2d(c1), neuron()
        g2 = pick([1, 2, c1])                              # c1: grouped or depthwise-like
        c2 = g2 * pick([1, 2])
        self.up = nn.ConvTranspose2d(c1, c2, 2, stride=2, groups=g2, bias=bias())
        self.up_bn, self.up_sn = nn.BatchNorm2d(c2), neuron()
        c3 = pick([3, 4, 8])
        g3 = pick([1, c2]) if c3 % c2 == 0 else 1          # depthwise when it divides
        self.tok = nn.Conv1d(c2, c3, 1, groups=g3, bias=bias())
        self.tok_bn, self.tok_sn = nn.BatchNorm1d(c3), neuron()
        c4 = pick([4, 5])
        self.fc, self.fc_bn, self.fc_sn = nn.Linear(c3, c4, bias=bias()), nn.BatchNorm1d(c4), neuron()
        self.head = nn.Linear(c4, 3)

    def forward(self, x):
        t, n = x.shape[:2]
        unfold = lambda y: y.reshape(t, n, *y.shape[1:])  # noqa: E731
        s = self.sn(unfold(self.bn(self.conv(x.flatten(0, 1)))))
        s = self.up_sn(unfold(self.up_bn(self.up(s.flatten(0, 1)))))
        s = self.tok_sn(unfold(self.tok_bn(self.tok(s.flatten(0, 1).flatten(2)))))
        s = self.fc_sn(unfold(self.fc_bn(self.fc(s.flatten(0, 1).mean(2)))))
        return self.head(s.flatten(0, 1)).reshape(t, n, -1).mean(0)


@functools.cache
def random_onnx(seed: int):
    torch.manual_seed(seed)
    model = RandomNet(seed).eval()
    wild_batchnorm(model, seed)
    return to_onnx(model, torch.rand(2, 2, 2, 6, 6))


def run_unoptimized(proto, feeds: dict, outputs=()) -> dict[str, np.ndarray]:
    """onnxruntime with graph optimisations off (see the module docstring)."""
    if outputs:
        proto = with_outputs(proto, outputs)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def compare_with_original(original, graph: Graph, feeds: dict) -> tuple[int, int]:
    """Run ``original`` (an ONNX file) and ``graph`` (written by ir_to_onnx) on onnxruntime:
    the analog outputs must agree within 1e-5 relative; returns (spikes that differ,
    spikes compared) over every neuron's output, matched by the neuron's ONNX node name."""
    by_source = {n.source: n for n in graph.nodes if n.op in ("lif", "if")}
    pairs = [(n.output[0], by_source[n.name].outputs[0]) for n in neuron_nodes(original)]
    assert len(pairs) == len(by_source), "every neuron survives the passes"
    ref = run_unoptimized(original, feeds, [a for a, _ in pairs])
    mine = run_unoptimized(graph_to_onnx(graph), feeds, [b for _, b in pairs])
    for ours, theirs in zip(graph.outputs, (o.name for o in original.graph.output)):
        scale = float(np.abs(ref[theirs]).max()) or 1.0
        np.testing.assert_allclose(mine[ours], ref[theirs], rtol=1e-5, atol=1e-6 * scale, err_msg=ours)
    changed = sum(int((ref[a] != mine[b]).sum()) for a, b in pairs)
    return changed, sum(ref[a].size for a, _ in pairs)
