"""``snnc convert --target-agreement X`` (issue 14) on the digits ViT: after the global levels
search it lowers each layer's levels at the chosen T, as ``snnc evaluate --target-agreement``
does, and writes that SNN; ``--write-levels`` writes the neurons keyed the way
``--thresholds`` takes them (``name:1`` for a product's second operand), and converting
with that file rebuilds the same SNN. Agreement is recomputed with onnxruntime running
the written file and PyTorch running the ANN."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import onnx
from conftest import require

from onnx_helpers import run_ort

torch = require("torch")
SNNC = [sys.executable, "-m", "snnc"]
TARGET = 0.9


def _mt_attrs(proto: onnx.ModelProto) -> dict[str, dict]:
    return {n.name: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            for n in proto.graph.node if n.op_type == "MultiThreshold"}


def _key(neuron: str) -> str:
    """``<layer>.mt<i>`` -> the --thresholds key: ``<layer>``, or ``<layer>:<i>`` for i > 0."""
    layer, index = neuron.rsplit(".mt", 1)
    return layer if index == "0" else f"{layer}:{index}"


def test_convert_target_chooses_levels_per_layer_and_round_trips(digits_vit, tmp_path):
    tmp, model = digits_vit
    x = np.load(tmp / "test.npy")[:50]
    np.save(tmp_path / "val.npy", x)
    snn, levels_json = tmp_path / "snn.onnx", tmp_path / "levels.json"
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o", str(snn),
                               "--method", "ecmt", "--target-agreement", str(TARGET), "--data",
                               str(tmp_path / "val.npy"), "-T", "8", "--write-levels", str(levels_json)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    T = int(re.search(r"levels per layer at T = (\d+)", r.stdout).group(1))
    proto = onnx.load(str(snn))
    written = json.loads(levels_json.read_text())
    mts = _mt_attrs(proto)
    assert {_key(n): a["levels"] for n, a in mts.items()} == {k: v["levels"] for k, v in written.items()}
    assert any(k.endswith(":1") for k in written)                # q·kᵀ and attn·v: second operands
    assert len({v["levels"] for v in written.values()}) > 1       # chosen per layer, not one n for all

    feeds = {proto.graph.input[0].name: np.broadcast_to(x, (T, *x.shape)).copy()}
    out = next(iter(run_ort(proto, feeds).values()))
    with torch.no_grad():
        ann_top = model(torch.from_numpy(x)).numpy().argmax(1)
    assert (out.astype(np.float64).mean(0).argmax(1) == ann_top).mean() >= TARGET

    # the levels file rebuilds the SNN: same neurons, same outputs on onnxruntime
    r = subprocess.run(SNNC + ["convert", str(tmp / "ann.onnx"), "--calib", str(tmp / "calib.npy"), "-o",
                               str(tmp_path / "rebuilt.onnx"), "--method", "ecmt", "--thresholds", str(levels_json)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rebuilt = onnx.load(str(tmp_path / "rebuilt.onnx"))
    assert _mt_attrs(rebuilt) == mts
    a, b = run_ort(proto, feeds), run_ort(rebuilt, feeds)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
