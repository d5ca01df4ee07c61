"""Calibration: run the ANN on a data set with onnxruntime and record, per activation,
the statistics the conversion rules set thresholds from.

ECMT (supplement §4, "threshold percent p = 99") takes each neuron's thresholds from the
p-th percentile of the activations it will encode. Like the ECMT reference, the
percentile is computed per batch and averaged over the batches, separately for the
positive values and the magnitudes of the negative ones (a multi-threshold neuron has a
positive and a negative side). Memory stays bounded by one batch of activations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import onnx
import onnxruntime as ort

from snnc.conversion.data import batches, input_specs
from snnc.backends.sim.simulator import progress_bar
from snnc.ir.errors import SnncError


@dataclass
class LayerStats:
    """Per-activation statistics over a calibration set (``pos``/``neg``: the p-th percentile
    of the positive values and of the negative values' magnitudes, averaged over batches)."""

    pos: float
    neg: float
    max: float
    min: float
    samples: int

    def to_dict(self) -> dict:
        return asdict(self)


class _Running:
    def __init__(self):
        self.pos: list[float] = []
        self.neg: list[float] = []
        self.max, self.min = -np.inf, np.inf

    def add(self, x: np.ndarray, percentile: float) -> None:
        x = x.astype(np.float64, copy=False).ravel()
        self.max, self.min = max(self.max, float(x.max())), min(self.min, float(x.min()))
        # a batch with no value of a sign contributes 0 to that side, as a zero
        # activation would: the average stays an average over all batches
        pos, neg = x[x > 0], -x[x < 0]
        self.pos.append(float(np.percentile(pos, percentile)) if pos.size else 0.0)
        self.neg.append(float(np.percentile(neg, percentile)) if neg.size else 0.0)

    def result(self, samples: int) -> LayerStats:
        return LayerStats(float(np.mean(self.pos)), float(np.mean(self.neg)), self.max, self.min, samples)


def calibrate(proto: onnx.ModelProto, data: dict[str, np.ndarray], tensors: list[str], *,
              percentile: float = 99.0, batch_size: int = 64, progress: bool = False) -> dict[str, LayerStats]:
    """Statistics of the float tensors ``tensors`` of ``proto`` over ``data`` (by input name).

    ``data`` is what :func:`snnc.conversion.data.load_dataset` returns. Every batch runs
    once through onnxruntime with the requested tensors added as graph outputs.
    """
    if not 0 < percentile <= 100:
        raise SnncError(f"percentile must be in (0, 100], got {percentile}")
    specs = input_specs(proto)
    sess = ann_session(proto, tensors)
    running = {t: _Running() for t in tensors}
    n = next(iter(data.values())).shape[0]
    bar = progress_bar(n, progress, desc="calibrating", unit="sample")
    done = 0
    for count, size, feeds in batches(data, specs, batch_size):
        outs = sess.run(tensors, feeds)
        for name, value in zip(tensors, outs):
            value = np.asarray(value)
            if count < size and value.ndim and value.shape[0] == size:   # a padded tail
                value = value[:count]
            running[name].add(value, percentile)
        done += count
        if bar is not None:
            bar.update(count)
    if bar is not None:
        bar.close()
    return {t: running[t].result(done) for t in tensors}


def ann_session(proto: onnx.ModelProto, tensors: list[str] = (), *, threads: int | None = None
                ) -> ort.InferenceSession:
    """onnxruntime on the ANN, with ``tensors`` added as outputs (calibration) and at most
    ``threads`` threads (evaluation: workers share the cores)."""
    model = onnx.ModelProto.FromString(proto.SerializeToString())
    produced = {o for node in model.graph.node for o in node.output} | {i.name for i in model.graph.input}
    unknown = [t for t in tensors if t not in produced]
    if unknown:
        raise SnncError(f"the model computes no tensor named {unknown[:5]}; nothing to calibrate there")
    have = {o.name for o in model.graph.output}
    for name in tensors:
        if name not in have:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads is not None:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for invalid models
        raise SnncError(f"onnxruntime cannot run the ANN ({str(err).splitlines()[0]}); "
                        "check it with `python -m onnx.checker` or re-export it") from err
