"""Does what snnc deploys compute what it simulates? The comparison ``snnc verify`` prints.

Four runs on the same input: onnxruntime on the file, the float interpreter (the IR's
semantics), the ``loihi`` interpreter (the quantised program in numpy) and Lava itself.
:func:`compare` returns, per neuron layer, whether the spikes are equal (onnxruntime vs
float; Lava vs loihi) and how many agree (float vs loihi, aligned for Lava's one-step
synaptic delays); per output, the largest difference and the top-1 agreement; and the
host nodes that run inside the Lava run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnc.ir.graph import Graph
from snnc.ir.interpret import record

NEURON_LAYERS = ("lif", "if", "maxpool", "multi_threshold")


def _run_ort(path: Path, graph: Graph, feeds, layers: list[str]) -> dict[str, np.ndarray]:
    """onnxruntime's graph outputs and neuron layers (by IR value name), ``[T, N, ...]``."""
    import onnx
    import onnxruntime as ort

    from snnc.onnx.io import load_model

    proto = load_model(path)
    made = {n.name: n.output[0] for n in proto.graph.node if n.output}
    wanted = {}
    for v in layers:
        node = graph.producer(v)
        if node is not None and node.source in made:
            wanted[v] = made[node.source]
    have = {o.name for o in proto.graph.output}
    for tensor in wanted.values():
        if tensor not in have:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(names, feeds)))
    out = {v: got[t] for v, t in wanted.items()}
    out.update({o: got[o] for o in graph.outputs if o in got})
    return out


def _as_layer(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return x.reshape(like.shape) if x.size == like.size else x


def _same(a, b) -> bool:
    return a is not None and b is not None and a.shape == b.shape and bool(np.array_equal(a, b))


def _agree(a, b) -> float | None:
    return None if a is None or b is None or a.shape != b.shape else float((a == b).mean())


def _max_err(a, b) -> float | None:
    if a is None or b is None or a.shape != b.shape:
        return None
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0))


def _top1(a, b) -> float | None:
    if a is None or b is None or a.shape != b.shape or a.ndim < 2 or a.shape[-1] < 2:
        return None
    return float((a.argmax(-1) == b.argmax(-1)).mean())


def _levels_agree(f: np.ndarray, payload: np.ndarray, scale: float) -> float | None:
    """A multi-threshold layer: the fraction of (neuron, step) where both fire the same
    level (or both stay silent). The integer payload times its scale is the float level up
    to the threshold's rounding, far less than the ladder's factor between levels."""
    if f.shape != payload.shape:
        return None
    s = payload.astype(np.float64) * scale
    f = f.astype(np.float64)
    return float((((f == 0) & (s == 0)) | ((f != 0) & (np.abs(s - f) <= 0.25 * np.abs(f)))).mean())


def compare(model: Path, graph: Graph, feeds) -> dict:
    """Run the four and compare them: the comparison ``snnc verify`` prints (see module doc)."""
    from snnc.backends.loihi.chip import plan
    from snnc.backends.loihi.host import host_table
    from snnc.backends.loihi.run import run_loihi
    from snnc.passes import DEFAULT_PIPELINE, run_pipeline

    folded = run_pipeline(graph, DEFAULT_PIPELINE)      # fold-bn, fold-scale, clean-up
    q = run_pipeline(folded, "loihi-quantize", options={"loihi-quantize": {"calibration": feeds}})
    floats = record(folded, feeds)
    sim = run_loihi(q, feeds, align=True)
    lava = run_loihi(q, feeds, engine="lava", align=True)
    layers = [n.outputs[0] for n in folded.nodes if n.op in NEURON_LAYERS and n.outputs[0] in sim.values]
    ort = _run_ort(model, graph, feeds, layers) if model.suffix == ".onnx" else {}
    rows = []
    for v in layers:
        f, s, lv = floats[v], sim.values[v], lava.values[v]
        o = _as_layer(ort[v], f) if v in ort else None
        node = q.producer(v)
        graded = node is not None and node.op == "loihi_mt"     # rates: the fraction of events
        rows.append({"layer": v, "lag": sim.lag[v], "rate_float": float((f != 0).mean() if graded else f.mean()),
                     "rate_loihi": float((s != 0).mean() if graded else s.mean()),
                     "ort_equals_float": None if o is None else _same(o, f),
                     "float_loihi_agreement": _levels_agree(f, s, node.attrs["scale"]) if graded else _agree(f, s),
                     "lava_equals_loihi": _same(lv, s),
                     "lava_differences": int((lv != s).sum()) if lv.shape == s.shape else -1})
    raw_exact = all(_same(lava.raw[v], sim.raw[v]) for v in sim.raw)
    outputs = []
    for name in graph.outputs:
        f, s, lv = floats[name], sim.outputs[name], lava.outputs[name]
        o = _as_layer(ort[name], f) if name in ort else None
        outputs.append({"output": name, "shape": list(f.shape),
                        "max_error_ort_float": _max_err(o, f), "max_error_float_loihi": _max_err(f, s),
                        "max_error_loihi_lava": _max_err(s, lv), "top1_ort_float": _top1(o, f),
                        "top1_float_loihi": _top1(f, s), "top1_loihi_lava": _top1(s, lv),
                        "lava_equals_loihi": _same(lv, s)})
    exact = raw_exact and all(r["lava_equals_loihi"] for r in rows) and all(o["lava_equals_loihi"] for o in outputs)
    x = next(iter(feeds.values()))
    return {"model": str(model), "target": "loihi", "input_shape": list(x.shape), "bit_exact": exact,
            "onnxruntime": bool(ort), "layers": rows, "outputs": outputs,
            "lava": {"runs": lava.lava_runs, "seconds": lava.seconds}, "loihi_seconds": sim.seconds,
            "quantization": q.meta.get("loihi", {}), "host_in_run": host_table(plan(q))}


def fidelity(graph: Graph, q: Graph, feeds) -> dict:
    """Float graph ``graph`` vs its quantised program ``q`` on ``feeds``, value by value in
    program order (the simulator's loihi numerics, every value cut at its lag): where the
    Loihi program leaves the float one. Per value both compute (host values in and after the
    run, neuron layers): the relative error of its running mean at the last step (what a
    converted network's estimate of the ANN value is: ECMT Eq. 2), and for a multi-threshold
    layer the level agreement; per output, the top-1 agreement per step and of the running
    mean at the last step."""
    from snnc.backends.loihi.run import run_loihi

    floats = record(graph, feeds)
    run = run_loihi(q, feeds, align=True, trace=True)
    got = {**run.values, **run.outputs}
    rows = []
    for node in q.nodes:
        for v in node.outputs:
            f, s = floats.get(v), got.get(v)
            graded = node.op == "loihi_mt"
            if f is None or s is None or f.shape != s.shape or not q.values[v].timed \
                    or not (graded or q.values[v].dtype.startswith("float")):
                continue
            s = s.astype(np.float64) * (node.attrs["scale"] if graded else 1.0)
            f = f.astype(np.float64)
            mf, ms = f.mean(axis=0), s.mean(axis=0)
            rows.append({"value": v, "op": node.op, "lag": run.lag.get(v, 0),
                         "mean_error": float(np.linalg.norm(ms - mf) / (np.linalg.norm(mf) or 1.0)),
                         "level_agreement": _levels_agree(f, s, 1.0) if graded else None})
    outputs = [{"output": o, "top1_per_step": _top1(floats[o], run.outputs[o]),
                "top1_mean": _top1(floats[o].mean(axis=0), run.outputs[o].mean(axis=0))} for o in graph.outputs]
    return {"values": rows, "outputs": outputs}

