"""Regenerate the bundled example models (deterministic; about 10 s on a CPU).

    python examples/make_examples.py [--force]

- ``spikingformer-tiny.onnx``: Spikingformer at snnc's tiny size (16 px CIFAR-style
  images, one block, random weights with non-trivial BatchNorm statistics so it spikes);
- ``digits-snn.onnx``: a spiking CNN trained here on scikit-learn's 8x8 digits
  (``snnc.models.digits``), and ``digits-test.npy``, 16 of its test digits as
  ``[T, N, 1, 8, 8]`` frames with ``digits-test-labels.npy``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import snnc
from snnc.models import spikingformer
from snnc.models.digits import frames, train_digits

HERE = Path(__file__).resolve().parent


def spikingformer_tiny(path: Path, force: bool) -> None:
    torch.manual_seed(0)
    model = spikingformer("tiny").eval()
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) * 1.5 + 0.75)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.6)
    snnc.export(model, torch.rand(2, 2, 3, 16, 16), path, overwrite=force)


def digits(path: Path, force: bool) -> None:
    model, split = train_digits()
    snnc.export(model, torch.from_numpy(frames(split.train_images[:2])), path, overwrite=force)
    np.save(HERE / "digits-test.npy", frames(split.test_images[:16]))
    np.save(HERE / "digits-test-labels.npy", split.test_labels[:16])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="overwrite the existing files")
    args = parser.parse_args()
    spikingformer_tiny(HERE / "spikingformer-tiny.onnx", args.force)
    digits(HERE / "digits-snn.onnx", args.force)
    for name in ("spikingformer-tiny.onnx", "digits-snn.onnx", "digits-test.npy", "digits-test-labels.npy"):
        print(f"wrote examples/{name} ({(HERE / name).stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
