"""Simulator throughput against onnxruntime on the same ONNX file and inputs.

    python benchmarks/bench_sim.py [--size 4-384] [--dataset cifar10] [--timesteps 4]
                                   [--samples 32] [--batch 16] [--repeat 3] [--torch]

Exports Spikingformer-<size> (random weights; BatchNorm statistics set so that every
layer fires, ~26 % of neurons per step) once, writes the ``[T, N, C, H, W]`` inputs, then
times, each in a fresh process (so that one runtime's idle worker threads never steal
the other's cores), best of ``--repeat``:

- onnxruntime (CPUExecutionProvider, default session options) on the file, in batches of
  ``--batch`` samples: the golden reference, each ``snnc::LIF`` a Scan in the file's
  local functions;
- ``snnc.backends.sim`` on the imported IR, numpy engine, counting on, same batches;
- with ``--torch``, the simulator's torch engine;
- the peer a user would otherwise pick: SpikingJelly running the same network (every
  ``snnc.nn.LIF`` swapped for ``spikingjelly.activation_based.neuron.LIFNode`` with the
  same parameters, multi-step; ``--no-spikingjelly`` skips it).

Prints samples/s and the ratio simulator / onnxruntime (goal: numpy >= 0.5x), and how
far the outputs agree (spikes that flip at a threshold tie change the logits of their
sample: the test suite explains every differing spike; here they are only counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, os, sys, time
import numpy as np
which, model, inputs, batch, repeat, out = sys.argv[1:7]
batch, repeat = int(batch), int(repeat)
x = np.load(inputs)
if which == "onnxruntime":
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    name, oname = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    def once():
        return np.concatenate([sess.run([oname], {name: x[:, i:i + batch]})[0]
                               for i in range(0, x.shape[1], batch)], axis=0)
    info = {}
elif which == "spikingjelly":
    # the peer a user would pick: the same network in SpikingJelly, every snnc LIF swapped
    # for spikingjelly's multi-step LIFNode (2.0: torch) with the same parameters
    import torch
    from spikingjelly.activation_based import functional, neuron
    sys.path.insert(0, model)
    from bench_sim import make_model
    size, dataset = inputs_meta = sys.argv[7:9]
    net = make_model(size, dataset)
    from snnc.nn.neurons import LIF
    for parent in list(net.modules()):
        for key, child in list(parent.named_children()):
            if isinstance(child, LIF):
                setattr(parent, key, neuron.LIFNode(tau=float(child.tau), v_threshold=float(child.v_threshold),
                        v_reset=child.v_reset, decay_input=bool(child.decay_input), step_mode="m"))
    torch.set_num_threads(os.cpu_count())
    def once():
        outs = []
        with torch.no_grad():
            for i in range(0, x.shape[1], batch):
                functional.reset_net(net)
                outs.append(net(torch.from_numpy(x[:, i:i + batch])).numpy())
        return np.concatenate(outs, axis=0)
    info = {}
else:
    from snnc.ir.serialize import from_json
    from snnc.backends.sim import Simulator
    graph = from_json(open(model).read())
    stats = {}
    def once():
        res = Simulator(graph, engine=which).simulate({graph.inputs[0]: x}, batch_size=batch)
        stats["res"] = res
        return res.outputs[graph.outputs[0]]
    info = None
y = once()                                   # warm up (sessions, BLAS threads, fan-out tables)
times = []
for _ in range(repeat):
    t = time.perf_counter()
    y = once()
    times.append(time.perf_counter() - t)
np.save(out, y)
if info is None:
    res = stats["res"]
    info = {"acs": res.total("acs"), "macs": res.total("macs"),
            "firing_rate": res.total("spikes") / res.total("neuron_updates")}
print(json.dumps({"seconds": min(times), **info}))
"""


def make_model(size: str, dataset: str):
    """Spikingformer-<size> (random weights; BatchNorm statistics set so that every layer
    fires), in eval mode: the same network for every runtime."""
    import torch

    from snnc import models

    torch.manual_seed(0)
    model = models.spikingformer(size, dataset)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.zero_()
            m.running_var.fill_(0.02)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.5)
    return model.eval()


def build(size: str, dataset: str, timesteps: int):
    """Spikingformer-<size> with every layer active, as an in-memory ONNX model."""
    import torch

    from snnc.onnx.export import to_onnx

    model = make_model(size, dataset)
    cfg = model.config
    return to_onnx(model, torch.rand(timesteps, 2, cfg.in_channels, cfg.img_size, cfg.img_size))


def measure(which: str, model: Path, inputs: Path, args, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, which, str(model), str(inputs), str(args.batch),
                           str(args.repeat), str(out), args.size, args.dataset], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{which} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="4-384")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--timesteps", type=int, default=4)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16, help="samples per batch, both runtimes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--torch", action="store_true", help="also time the simulator's torch engine")
    ap.add_argument("--no-spikingjelly", action="store_true",
                    help="skip the peer: SpikingJelly running the same network (multi-step, torch backend)")
    args = ap.parse_args(argv)

    import onnx

    from snnc.ir.serialize import to_json
    from snnc.onnx.importer import import_onnx

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        proto = build(args.size, args.dataset, args.timesteps)
        onnx.save(proto, tmp / "model.onnx")
        graph = import_onnx(proto)
        (tmp / "model.json").write_text(to_json(graph))
        shape = graph.values[graph.inputs[0]].shape
        x = np.random.default_rng(0).random((args.timesteps, args.samples, *shape), dtype=np.float32)
        np.save(tmp / "x.npy", x)
        runs = {"onnxruntime": measure("onnxruntime", tmp / "model.onnx", tmp / "x.npy", args, tmp / "ort.npy"),
                "numpy": measure("numpy", tmp / "model.json", tmp / "x.npy", args, tmp / "numpy.npy")}
        if args.torch:
            runs["torch"] = measure("torch", tmp / "model.json", tmp / "x.npy", args, tmp / "torch.npy")
        if not args.no_spikingjelly:
            here = Path(__file__).resolve().parent
            runs["spikingjelly"] = measure("spikingjelly", here, tmp / "x.npy", args, tmp / "spikingjelly.npy")
        ref = np.load(tmp / "ort.npy")
        outs = {k: np.load(tmp / f"{'ort' if k == 'onnxruntime' else k}.npy") for k in runs}
    sim = runs["numpy"]
    print(f"Spikingformer-{args.size} {args.dataset}, T={args.timesteps}, {args.samples} samples in batches of "
          f"{args.batch}, {os.cpu_count()} CPUs, best of {args.repeat}, each runtime in its own process")
    print(f"  neurons fire at {sim['firing_rate']:.3f}; per sample {sim['acs']:.4g} ACs, {sim['macs']:.4g} MACs")
    t_ort = runs["onnxruntime"]["seconds"]
    print(f"  onnxruntime          {args.samples / t_ort:8.2f} samples/s  ({t_ort:.3f} s)")
    if "spikingjelly" in runs:
        t = runs["spikingjelly"]["seconds"]
        same = int((outs["spikingjelly"].argmax(1) == ref.argmax(1)).sum())
        print(f"  spikingjelly (torch) {args.samples / t:8.2f} samples/s  ({t:.3f} s, no counting): the peer; "
              f"same argmax as onnxruntime on {same}/{len(ref)} samples")
        print(f"  snnc sim (numpy) / spikingjelly: {t / runs['numpy']['seconds']:.2f}x")
    for engine in ("numpy", "torch"):
        if engine not in runs:
            continue
        t = runs[engine]["seconds"]
        same = int((outs[engine].argmax(1) == ref.argmax(1)).sum())
        rel = float(np.abs(outs[engine] - ref).max() / (np.abs(ref).max() or 1.0))
        goal = "  (goal >= 0.5x)" if engine == "numpy" else ""
        print(f"  snnc sim ({engine:5s})   {args.samples / t:8.2f} samples/s  ({t:.3f} s, counting on): "
              f"{t_ort / t:.2f}x onnxruntime{goal}; same argmax on {same}/{len(ref)} samples, "
              f"max rel. logit diff {rel:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
