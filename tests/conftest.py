"""Shared fixtures. Models and data are made here, never downloaded."""

from __future__ import annotations

import os

import numpy as np
import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/*.txt from the current output (as SNNC_UPDATE_GOLDEN=1)")


def require(module: str):
    """``pytest.importorskip`` that fails instead of skipping in CI (``CI=true``): there
    every optional dependency a test needs is installed by .ci/setup, and a skip would
    hide a broken install."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as err:
        if IN_CI:
            pytest.fail(f"CI must run this test, but {module} does not import: {err}")
        pytest.skip(f"{module} is not installed: {err}")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def randomize_batchnorm(model, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics, so folding and rounding are exercised."""
    import torch

    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)


@pytest.fixture(scope="module")
def lava():
    """Lava, imported through snnc's compatibility layer; outside CI a test needing it is
    skipped when lava-nc is missing, in CI (CI=true) it fails: Lava tests never skip there."""
    from snnc.backends.loihi.lava_compat import import_lava
    from snnc.ir.errors import SnncError

    try:
        return import_lava()
    except SnncError as err:
        if IN_CI:
            pytest.fail(f"CI must run the Lava tests: {err}")
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def digits_cnn(tmp_path_factory):
    """The ReLU CNN of ``examples/digits_ann.py`` (conv-BN-ReLU-avgpool-conv-ReLU-linear),
    trained here (seconds), exported as that example does (torch.onnx, TorchScript
    exporter, opset 17): ``(folder with ann.onnx, calib.npy, test.npy, y.npy; the module)``.
    Session scope: the level search and the dynamo-export tests share one training run."""
    return _trained_digits(tmp_path_factory, "cnn", "train_cnn")


@pytest.fixture(scope="session")
def digits_vit(tmp_path_factory):
    """A small ViT trained here on scikit-learn's digits (seconds), exported with torch.onnx
    (opset 17): ``(folder with ann.onnx, calib.npy, test.npy, y.npy; the module)``. Session
    scope: the ecmt and sit conversion tests share one training run."""
    return _trained_digits(tmp_path_factory, "vit", "train_vit", epochs=12)


def _trained_digits(tmp_path_factory, folder: str, trainer: str, **options):
    """``snnc.models.digits_ann.<trainer>(**options)`` trained, exported with torch.onnx
    (TorchScript exporter, opset 17, the batch axis dynamic) and saved with the digits
    splits the tests use: ``(folder with ann.onnx, calib.npy, test.npy, y.npy; the module)``."""
    torch = require("torch")
    require("sklearn")
    from snnc.models import digits_ann

    x, y = digits_ann.digits_images()
    model = getattr(digits_ann, trainer)(**options)
    tmp = tmp_path_factory.mktemp(folder)
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(tmp / "ann.onnx"), input_names=["image"],
                      opset_version=17, dynamo=False, dynamic_axes={"image": {0: "n"}})
    np.save(tmp / "calib.npy", x[:200])
    np.save(tmp / "test.npy", x[1400:1600])
    np.save(tmp / "y.npy", y[1400:1600])
    return tmp, model
