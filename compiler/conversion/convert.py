"""``snnc.convert``: a trained ANN (ONNX file, ModelProto or torch module) and calibration
data in, a spiking network in the snnc ONNX dialect out.

    snn, info = snnc.convert("ann.onnx", "calib.npy", method="relu-if")
    snnc.onnx.io.save_model(snn, "snn.onnx")

Conversion is a rewrite of the IR, so an ANN from any exporter converts the same way:
import → fold BatchNorm → calibrate the activations the rules need (onnxruntime, on the
original file) → apply the method's rule set → the IR written back as ONNX. The SNN
takes ``[T, N, ...]`` (or ``[N, ...]``, repeated over T by the runner) and returns one
output per step; T is chosen when it runs, so sweeping T never re-converts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from snnc.conversion.calibrate import LayerStats, calibrate
from snnc.conversion.data import input_specs, load_dataset
from snnc.ir.errors import SnncError
from snnc.ir.registry import NEURON, get
from snnc.ir.rewrite import RewriteLog

METHODS = ("ecmt", "sit", "relu-if")


@dataclass
class ConversionInfo:
    """What a conversion did: the method, the calibrated statistics by IR value, the
    rewrite log (every rule applied and every candidate declined, with why)."""

    method: str
    percentile: float
    stats: dict[str, LayerStats] = field(default_factory=dict)
    log: RewriteLog | None = None

    inserted: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        counts: dict[str, int] = dict(self.inserted)
        for e in self.log.applied if self.log else []:
            counts[e.rule] = counts.get(e.rule, 0) + 1
        out = [f"{self.method}: " + (" ".join(f"{k}={v}" for k, v in counts.items()) or "nothing converted")]
        out += [f"  {name}: p{self.percentile:g} = {s.pos:.4g} (max {s.max:.4g})" for name, s in self.stats.items()]
        out += [f"  left {e.node!r} ({e.rule}): {e.reason}" for e in (self.log.declined if self.log else [])]
        return out


def as_model_proto(model) -> onnx.ModelProto:
    """An ONNX path, a ModelProto, or a torch module (exported here: see :func:`export_ann`)."""
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (str, os.PathLike)):
        from snnc.onnx.io import load_model

        return load_model(model)
    raise SnncError(f"cannot convert a {type(model).__name__}; pass an ONNX path, an onnx.ModelProto, "
                    "or a torch.nn.Module with an example input (snnc.convert(module, calib, example=x))")


def convert(model, calib, *, method: str = "relu-if", percentile: float = 99.0, batch_size: int = 64,
            progress: bool = False, example=None, reset: str = "soft", levels: int = 8,
            overrides: dict | None = None, softmax_steps: int = 12,
            pre_sigmoid: bool = False, softmax_shift: bool = True) -> tuple[onnx.ModelProto, ConversionInfo]:
    """Convert ``model`` with calibration data ``calib`` (a .npy/.npz path, one array, or a
    dict by input name); returns the SNN as ONNX and what the conversion did. ``reset``:
    the IF neurons' reset, ``soft`` (V -= θ, the more accurate) or ``hard`` (V = 0, what
    ``snnc compile --target loihi`` maps onto Lava's LIF today). ``sit``: ``ecmt`` with every
    softmax a Spiking-Softmax of ``softmax_steps`` SI-exp steps (``pre_sigmoid``: SIT's
    sigmoid before it; ``softmax_shift``: its input minus the row max, exact for softmax),
    :mod:`snnc.conversion.sit`."""
    if reset not in ("soft", "hard"):
        raise SnncError(f"reset must be 'soft' or 'hard', got {reset!r}")
    if method not in METHODS:
        raise SnncError(f"unknown conversion method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "sit":
        from snnc.conversion.sit import si_exp_attrs

        si_exp_attrs(softmax_steps)          # an unknown K fails before calibrating
    if example is not None or _is_torch_module(model):
        from snnc.conversion.torch_ann import export_ann

        model = export_ann(model, example)
    proto = as_model_proto(model)
    data = _calibration_data(calib, proto)
    from snnc.onnx.ir_to_onnx import graph_to_onnx

    graph = ann_graph(proto)
    from snnc.conversion import ecmt, relu_if

    if method == "relu-if":
        problems = relu_if.refusals(graph)
        if problems:
            raise SnncError(f"cannot convert with {method}: {len(problems)} problem(s)", problems=problems)
        targets = {n.outputs[0]: n for n in graph.nodes if relu_if.is_relu(graph, n)}
    else:
        timed = relu_if.to_timed(graph)
        already = [n.name for n in timed.nodes if get(n.op).has(NEURON)]
        if already:
            raise SnncError(f"the model already has spiking neurons ({already[:3]}); convert an ANN")
        sites = ecmt.mt_sites(timed)
        targets = {n.inputs[i]: timed.producer(n.inputs[i]) for n, i in sites}
    tensors = _onnx_tensors(proto, targets)
    stats = calibrate(proto, data, list(dict.fromkeys(tensors.values())), percentile=percentile,
                      batch_size=batch_size, progress=progress)
    by_value = {v: stats[t] for v, t in tensors.items()}
    if method == "relu-if":
        thresholds = {v: (s.pos if s.pos > 0 else max(s.max, 1.0)) for v, s in by_value.items()}
        snn, log = relu_if.convert_relu_if(graph, thresholds, soft_reset=reset == "soft")
    else:
        overrides = overrides or {}
        attrs = {}
        for n, i in sites:
            attrs[(n.name, i)] = ecmt.thresholds(timed, n.inputs[i], by_value.get(n.inputs[i]), levels, overrides,
                                                 ecmt.site_key(n.name, i))
        unknown = sorted(set(overrides) - {ecmt.site_key(n.name, i) for n, i in sites})
        if unknown:
            raise SnncError(f"threshold overrides name no neuron site: {unknown[:5]}; sites are the synaptic "
                            "layers' names (and 'name:1' for a product's second operand)")
        if method == "sit":
            from snnc.conversion.sit import convert_sit

            snn, log = convert_sit(timed, attrs, softmax_steps, pre_sigmoid, softmax_shift)
        else:
            snn, log = ecmt.convert_ecmt(timed, attrs)
    snn.meta["conversion"] = method
    from snnc.backends.energy.methods import ann_flops

    # the ANN's own MACs: the baseline of every energy ratio reported on this SNN (its
    # layers can differ from the ANN's: avgpool-into-conv makes a conv's kernel larger)
    snn.meta["ann_macs"] = ann_flops(graph)
    info = ConversionInfo(method, percentile, by_value, log)
    if method in ("ecmt", "sit"):
        info.inserted = {"multi-threshold": sum(n.op == "multi_threshold" for n in snn.nodes),
                         "spiking-matmul": sum(n.op == "spiking_matmul" for n in snn.nodes)}
    return graph_to_onnx(snn), info


def ann_graph(proto: onnx.ModelProto):
    """The ANN's IR as the rules see it: imported, identities removed, constants and
    BatchNorm folded."""
    from snnc.onnx.importer import import_onnx
    from snnc.passes import run_pipeline

    return run_pipeline(import_onnx(proto), "remove-identity,fold-constants,fold-bn")


def site_keys(proto: onnx.ModelProto) -> list[str]:
    """The ``--thresholds`` keys of ``ecmt``/``sit`` neurons of this ANN, in graph order:
    every key a thresholds file may use."""
    from snnc.conversion import ecmt, relu_if

    return [ecmt.site_key(n.name, i) for n, i in ecmt.mt_sites(relu_if.to_timed(ann_graph(proto)))]


def _is_torch_module(model) -> bool:
    return type(model).__module__.startswith("torch") or any(
        c.__module__.startswith("torch.nn") for c in type(model).__mro__)


def _calibration_data(calib, proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    specs = input_specs(proto)
    if isinstance(calib, (str, os.PathLike)):
        return load_dataset(Path(calib), specs)
    if isinstance(calib, np.ndarray):
        if len(specs) != 1:
            raise SnncError(f"the model takes {len(specs)} inputs; pass calibration data as a dict by name")
        calib = {specs[0].name: calib}
    if isinstance(calib, dict):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:    # one checking path for files and arrays
            np.savez(Path(tmp) / "calib.npz", **{k: np.asarray(v) for k, v in calib.items()})
            return load_dataset(Path(tmp) / "calib.npz", specs)
    raise SnncError(f"calibration data must be a .npy/.npz path, an array or a dict, not {type(calib).__name__}")


def _onnx_tensors(proto: onnx.ModelProto, nodes: dict) -> dict[str, str]:
    """The ONNX tensor each IR node's output came from (its source node's first output)."""
    outputs = {n.name: n.output[0] for n in proto.graph.node if n.output}
    found, missing = {}, []
    for value, node in nodes.items():
        if node is None:
            raise SnncError(f"cannot calibrate {value!r}: it is a graph input")
        if node.source in outputs:
            found[value] = outputs[node.source]
        else:
            missing.append(node.name)
    if missing:
        raise SnncError(f"cannot find the ONNX tensors of {missing[:5]} to calibrate; "
                        "re-export the model with named nodes")
    return found
