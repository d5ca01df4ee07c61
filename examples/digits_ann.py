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
from sklearn.datasets import load_digits


def train(epochs: int = 15, seed: int = 0) -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x[:1400]), torch.from_numpy(y[:1400])
    for _ in range(epochs):
        for i in range(0, 1400, 100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[i:i + 100]), yt[i:i + 100]).backward()
            opt.step()
    return model.eval(), x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    out = parser.parse_args().outdir
    out.mkdir(parents=True, exist_ok=True)
    model, x, y = train()
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(out / "ann.onnx"), input_names=["image"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    np.save(out / "calib.npy", x[:200])
    np.save(out / "test.npy", x[1400:])
    np.save(out / "test-labels.npy", y[1400:])
    with torch.no_grad():
        acc = (model(torch.from_numpy(x[1400:])).argmax(1).numpy() == y[1400:]).mean()
    print(f"wrote {out}/ann.onnx (test accuracy {100 * acc:.2f}%), calib.npy, test.npy, test-labels.npy")


if __name__ == "__main__":
    main()
