"""Train a small ReLU CNN on scikit-learn's 8x8 digits and write what `snnc convert` needs.

    python examples/digits_ann.py OUTDIR        # about 10 s on a CPU, deterministic

OUTDIR/ann.onnx          the trained ANN (torch.onnx, opset 17, dynamic batch)
OUTDIR/calib.npy         200 training images [N, 1, 8, 8] for calibration
OUTDIR/test.npy          the 397 held-out images, and test-labels.npy their classes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from snnc.models.digits_ann import TRAIN, digits_images, train_cnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    out = parser.parse_args().outdir
    out.mkdir(parents=True, exist_ok=True)
    model, (x, y) = train_cnn(), digits_images()
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(out / "ann.onnx"), input_names=["image"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    np.save(out / "calib.npy", x[:200])
    np.save(out / "test.npy", x[TRAIN:])
    np.save(out / "test-labels.npy", y[TRAIN:])
    with torch.no_grad():
        acc = (model(torch.from_numpy(x[TRAIN:])).argmax(1).numpy() == y[TRAIN:]).mean()
    print(f"wrote {out}/ann.onnx (test accuracy {100 * acc:.2f}%), calib.npy, test.npy, test-labels.npy")


if __name__ == "__main__":
    main()
