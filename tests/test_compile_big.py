"""Spikingformer-8-512 at 224 px compiled for Loihi 2: the issue's full-size must-show.

One export (about 10 s), one compile (about 7 s, no simulation) and one load of the
written artifact serve every test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.backends.loihi.targets import LOIHI2
from snnc.backends.sim import shape_inputs
from snnc.deploy import compile_model, load_artifact, write_artifact
from snnc.models import spikingformer
from snnc.onnx.export import export
from snnc.onnx.importer import import_onnx

from conftest import randomize_batchnorm
from core_loads import check_limits, recompute_loads
from loihi_nets import record


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    torch.manual_seed(0)
    model = spikingformer("8-512", "imagenet").eval()
    randomize_batchnorm(model)
    root = tmp_path_factory.mktemp("big")
    export(model, torch.rand(2, 1, 3, 224, 224), root / "sf.onnx")
    x = np.random.default_rng(0).random((1, 3, 224, 224)).astype(np.float32)
    c = compile_model(import_onnx(root / "sf.onnx"), "loihi2", inputs={"x": x}, timesteps=4, simulate=False)
    write_artifact(c, root / "art")
    return c, root / "art", x


@pytest.fixture(scope="module")
def loaded(big):
    """``load_artifact`` of the written artifact (hashes verified, every op re-inferred: seconds
    at this size), once for the tests that read it back."""
    return load_artifact(big[1])


def test_cores_and_chips(big, loaded):
    c = big[0]
    manifest, _, mapping = loaded
    cores, chips = len(mapping["cores"]), mapping["chips"]
    print(f"\nSpikingformer-8-512 (224 px) on loihi2: {cores} cores on {chips} chips, "
          f"{len(mapping['host'])} host ops")
    assert manifest["cores"] == cores and chips == -(-cores // 128) > 1
    synapses = {n.name for n in c.program.nodes if n.op in ("loihi_conv", "loihi_dense")}
    assert set(mapping["layers"]) == synapses              # every chip layer has cores: none dropped
    tiles = {}
    for core in mapping["cores"]:
        for tile in core["tiles"]:
            tiles[tile["layer"]] = tiles.get(tile["layer"], 0) + 1
    assert tiles["patch_embed.proj_conv"] > 1                # 64x224x224 neurons: split
    host_ops = {h["op"] for h in mapping["host"]}
    assert {"matmul", "loihi_encode"} <= host_ops           # attention and encoding: listed, with costs
    assert all(h["reason"] for h in mapping["host"])


def test_every_core_load_holds_the_loihi2_table(loaded):
    _, program, mapping = loaded
    loads = recompute_loads(program, mapping)
    assert [core["load"] for core in mapping["cores"]] == loads
    assert check_limits(loads, LOIHI2) == []


def test_split_layers_give_the_same_spikes(big):
    c, _, x = big
    feeds = shape_inputs(c.program, {"x": x}, 4)
    whole, split = record(c.program, feeds), record(c.partitioned, feeds)
    neurons = [n.outputs[0] for n in c.program.nodes if n.op == "loihi_lif"]
    for value in neurons:
        np.testing.assert_array_equal(split[value], whole[value], err_msg=value)
    assert sum(whole[v].sum() for v in neurons) > 0
