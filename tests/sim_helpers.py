"""What the simulator, energy and report tests share: active reference models (exported
once per session), random spiking networks, and the simulator-vs-onnxruntime comparison
that explains every differing spike.

Nothing is downloaded; every model is made here with random weights.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from onnx_helpers import run_ort
from snnc import models
from snnc.nn import IF, LIF, MeanDecoder, RepeatEncoder, SeqToBatch
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_onnx

TIE_TOL = 1e-5      # |H - v_th| below this (relative to max(1, |v_th|)) is a threshold tie
REL_TOL = 1e-5      # analog values agree within this, relative to the tensor's largest value


def activate(model: nn.Module, seed: int = 0, var: float = 0.01) -> nn.Module:
    """Give every BatchNorm statistics that make the next neuron fire at a useful rate
    (the default init leaves deep layers silent); same statistics for same shapes."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_((torch.rand(n, generator=g) - 0.5) * 0.1)
            m.running_var.copy_(torch.full((n,), var) * (0.5 + torch.rand(n, generator=g)))
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.6)
    return model


@functools.lru_cache(maxsize=None)
def reference(family: str, size: str = "tiny", seed: int = 0, timesteps: int = 4):
    """``(proto, graph)`` of an active Spikformer / Spikingformer (same seed: same conv
    weights and BatchNorm statistics for the layers the two share)."""
    torch.manual_seed(seed)
    model = activate(getattr(models, family)(size), seed)
    cfg = model.config
    x = torch.rand(timesteps, 2, cfg.in_channels, cfg.img_size, cfg.img_size)
    proto = to_onnx(model, x)
    return proto, import_onnx(proto)


# -- random spiking networks ------------------------------------------------------------
class RandomSNN(nn.Module):
    """A random feed-forward SNN from a seed: conv(+BN) -> neuron stages with random
    kernel / stride / padding / groups / neuron settings, max or average pooling, spike +
    spike residuals, then a linear head on the mean over time (or per step)."""

    def __init__(self, seed: int):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.repeat = bool(rng.integers(2))
        self.in_ch, self.size = int(rng.choice([1, 2, 3])), int(rng.choice([6, 8]))
        self.stages = nn.ModuleList()
        self.plan = []                 # per stage: (pool, residual)
        ch, size = self.in_ch, self.size
        for i in range(int(rng.integers(2, 4))):
            out = int(rng.choice([4, 6, 8]))
            k = int(rng.choice([1, 3])) if size >= 3 else 1
            groups = 2 if (i > 0 and ch % 2 == 0 and out % 2 == 0 and rng.random() < 0.4) else 1
            stride = 2 if (size >= 6 and rng.random() < 0.3) else 1
            conv = nn.Conv2d(ch, out, k, stride=stride, padding=int(rng.integers(0, k // 2 + 1)), groups=groups,
                             bias=bool(rng.integers(2)))
            with torch.no_grad():
                conv.weight.mul_(3.0)
            layers = [conv] + ([nn.BatchNorm2d(out)] if rng.random() < 0.5 else [])
            if rng.random() < 0.7:
                neuron = LIF(tau=float(rng.choice([1.5, 2.0, 3.0])), v_threshold=float(rng.choice([0.5, 1.0])),
                             v_reset=None if rng.random() < 0.3 else 0.0, decay_input=bool(rng.integers(2)))
            else:
                neuron = IF(v_threshold=float(rng.choice([0.5, 1.0])), v_reset=None if rng.random() < 0.5 else 0.0)
            size = (size + 2 * conv.padding[0] - k) // stride + 1
            pool = None
            if size >= 4 and rng.random() < 0.4:
                pool = nn.MaxPool2d(2) if rng.random() < 0.6 else nn.AvgPool2d(2)
                size //= 2
            residual = pool is None and stride == 1 and out == ch and k == 3 and conv.padding[0] == 1 \
                and i > 0 and rng.random() < 0.7
            self.stages.append(nn.ModuleList([SeqToBatch(*layers), neuron] + ([SeqToBatch(pool)] if pool else [])))
            self.plan.append(residual)
            ch = out
        self.head = nn.Linear(ch * size * size, 5)
        self.per_step_head = bool(rng.integers(2))
        self.encoder = RepeatEncoder(3) if self.repeat else None
        self.decoder = MeanDecoder()
        activate(self, seed)

    def forward(self, x):
        if self.encoder is not None:
            x = self.encoder(x)
        for stage, residual in zip(self.stages, self.plan):
            y = x
            for m in stage:
                y = m(y)
            x = y + x if residual else y          # spike + spike: count(2)
        if self.per_step_head:
            return self.decoder(SeqToBatch(self.head)(x.flatten(2)))
        return self.head(self.decoder(x).flatten(1))

    def example(self, n: int = 2):
        shape = (n, self.in_ch, self.size, self.size)
        return torch.rand(shape) if self.repeat else torch.rand(3, *shape)


# -- simulator against onnxruntime ---------------------------------------------------------
def neuron_tensors(graph, proto):
    """IR neuron node -> (ONNX input tensor, ONNX output tensor) of the node it came from."""
    by_name = {n.name: n for n in proto.graph.node}
    out = {}
    for node in graph.nodes:
        if node.op in ("lif", "if"):
            onnx_node = by_name[node.source]
            out[node.name] = (onnx_node.input[0], onnx_node.output[0])
    return out


def _charge(node, v, x):
    """The membrane update in float64, written here from SpikingJelly's formulas."""
    a = node.attrs
    if node.op == "if":
        return v + x
    tau, v_reset = a.get("tau", 2.0), a.get("v_reset", 0.0)
    if a.get("decay_input", 1):
        return v + (x - (v - v_reset)) / tau
    if v_reset == 0 or a.get("soft_reset", 0):
        return v * (1 - 1 / tau) + x
    return v - (v - v_reset) / tau + x


def compare_with_ort(graph, proto, feeds: dict, result) -> dict:
    """Every neuron's spikes, simulator vs onnxruntime. A differing spike must be a
    threshold tie (|H - v_th| <= TIE_TOL at its first differing step, with identical
    inputs so far) or follow from an upstream difference. Returns counts and the largest
    relative difference of the graph outputs."""
    tensors = neuron_tensors(graph, proto)
    names = sorted({t for pair in tensors.values() for t in pair})
    ort = run_ort(proto, feeds, outputs=names)
    report = {"spikes": 0, "ties": 0, "propagated": 0, "unexplained": [], "neurons": len(tensors)}
    for node in graph.nodes:
        if node.name not in tensors:
            continue
        t_in, t_out = tensors[node.name]
        steps, n = ort[t_out].shape[:2]
        o_out = ort[t_out].reshape(steps, n, -1)
        s_out = result.recorded[node.outputs[0]].reshape(steps, n, -1)
        o_in = ort[t_in].reshape(steps, n, -1).astype(np.float64)
        s_in = result.recorded[node.inputs[0]].reshape(steps, n, -1).astype(np.float64)
        report["spikes"] += int(o_out.sum())
        differ = s_out != o_out
        if not differ.any():
            continue
        scale = max(np.abs(o_in).max(), 1e-30)
        in_differs = np.maximum.accumulate(np.abs(s_in - o_in) > REL_TOL * scale, axis=0)
        first = np.argmax(differ, axis=0)                       # first differing step per element
        v_th = node.attrs.get("v_threshold", 1.0)
        soft = node.attrs.get("soft_reset", 0)
        v = np.full(o_in.shape[1:], 0.0 if soft else node.attrs.get("v_reset", 0.0))
        for t in range(steps):
            h = _charge(node, v, o_in[t])
            fresh = differ[t] & (first == t)
            tie = np.abs(h - v_th) <= TIE_TOL * max(1.0, abs(v_th))
            upstream = in_differs[t]
            report["ties"] += int((fresh & tie & ~upstream).sum())
            report["propagated"] += int((differ[t] & ~(fresh & ~upstream)).sum())
            bad = fresh & ~tie & ~upstream
            if bad.any():
                report["unexplained"].append(f"{node.name} step {t}: {int(bad.sum())} spikes differ, "
                                             f"|H - v_th| up to {np.abs(h - v_th)[bad].max():.3g}")
            fired = o_out[t] > 0
            v = np.where(fired, (h - v_th) if soft else node.attrs.get("v_reset", 0.0), h)
    rel = 0.0
    for name, value in result.outputs.items():
        ref = ort[name] if name in ort else None
        if ref is not None:
            rel = max(rel, float(np.abs(value - ref).max() / max(np.abs(ref).max(), 1e-30)))
    report["output_rel_diff"] = rel
    return report
