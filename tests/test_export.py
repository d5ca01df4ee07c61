"""Export to the snnc dialect: onnxruntime and onnx.reference reproduce PyTorch exactly."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import snnc
from snnc.models import spikformer, spikingformer
from snnc.nn import IF, LIF, RepeatEncoder, SpikingNeuron
from snnc.onnx.dialect import LAYOUT_KEY, TIMESTEPS_KEY
from snnc.onnx.export import to_onnx

from conftest import randomize_batchnorm
from onnx_helpers import module_path, neuron_nodes, run_ort, run_reference


class ConvNeuron(nn.Module):
    """Conv (folded time) -> neuron -> linear -> neuron: both neurons' spikes out."""

    def __init__(self, neuron_a: nn.Module, neuron_b: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        nn.init.uniform_(self.conv.weight, -0.15, 0.25)
        self.lif_a = neuron_a
        self.fc = nn.Linear(4 * 6 * 6, 5)
        nn.init.uniform_(self.fc.weight, -0.06, 0.1)    # so that the second neuron fires too
        self.lif_b = neuron_b

    def forward(self, x):
        t, n = x.shape[:2]
        y = self.lif_a(self.conv(x.flatten(0, 1)).reshape(t, n, 4, 6, 6))
        return y, self.lif_b(self.fc(y.flatten(2)))


NEURONS = {
    "lif-hard": lambda: LIF(tau=2.0, v_threshold=1.0, v_reset=0.0),
    "lif-soft": lambda: LIF(tau=2.0, v_threshold=0.8, v_reset=None),
    "lif-no-decay-input": lambda: LIF(tau=3.0, v_threshold=1.0, v_reset=0.0, decay_input=False),
    "lif-soft-no-decay-input": lambda: LIF(tau=1.5, v_threshold=0.6, v_reset=None, decay_input=False),
    "lif-reset-nonzero": lambda: LIF(tau=2.5, v_threshold=1.0, v_reset=-0.2, decay_input=False),
    "if-hard": lambda: IF(v_threshold=1.0, v_reset=0.0),
    "if-soft": lambda: IF(v_threshold=0.5, v_reset=None),
}


@pytest.mark.parametrize("kind", NEURONS)
def test_ort_and_reference_equal_torch_exactly(kind):
    torch.manual_seed(1)
    model = ConvNeuron(NEURONS[kind](), NEURONS[kind]()).eval()
    proto = to_onnx(model, torch.rand(3, 2, 2, 6, 6))
    onnx.checker.check_model(proto, full_check=True)
    rates = []
    for t, n in [(1, 1), (4, 3), (7, 2)]:
        x = torch.rand(t, n, 2, 6, 6) * 3 - 0.5
        want = [y.detach().numpy() for y in model(x)]
        for run in (run_ort, run_reference):
            got = list(run(proto, {"x": x.numpy()}).values())
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w, err_msg=run.__name__)
        rates.append(want[0].mean())
    assert 0 < np.mean(rates) < 1


@pytest.mark.parametrize("kind", NEURONS)
def test_one_snnc_node_per_neuron_with_its_parameters(kind):
    model = ConvNeuron(NEURONS[kind](), NEURONS[kind]())
    proto = to_onnx(model, torch.rand(2, 2, 2, 6, 6))
    nodes = neuron_nodes(proto)
    modules = {name: m for name, m in model.named_modules() if isinstance(m, SpikingNeuron)}
    assert sorted(module_path(n) for n in nodes) == sorted(modules)
    for node in nodes:
        module = modules[module_path(node)]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert node.op_type == module.onnx_op
        assert attrs["v_threshold"] == pytest.approx(module.v_threshold, abs=0)
        assert attrs["soft_reset"] == int(module.v_reset is None)
        assert attrs["v_reset"] == (0.0 if module.v_reset is None else module.v_reset)
        if isinstance(module, LIF):
            assert attrs["tau"] == module.tau and attrs["decay_input"] == int(module.decay_input)
    assert {f.name for f in proto.functions} == {n.op_type for n in nodes}
    assert any(o.domain == "snnc" and o.version == 1 for o in proto.opset_import)


def test_time_and_batch_axes_are_named_and_recorded():
    proto = to_onnx(ConvNeuron(LIF(), LIF()), torch.rand(2, 2, 2, 6, 6))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["T", "N", 2, 6, 6]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta[LAYOUT_KEY]) == {"x": {"time_axis": 0, "batch_axis": 1}}
    assert proto.opset_import[0].version == 18


def test_repeat_encoder_model_takes_static_input():
    model = nn.Sequential(RepeatEncoder(3), ConvNeuron(LIF(), LIF())).eval()
    proto = to_onnx(model, torch.rand(1, 2, 6, 6))           # N=1 is widened to 2
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta[LAYOUT_KEY]) == {"x": {"batch_axis": 0}}
    assert meta[TIMESTEPS_KEY] == "3"
    x = torch.rand(5, 2, 6, 6) * 3
    for got, want in zip(run_ort(proto, {"x": x.numpy()}).values(), model(x), strict=True):
        np.testing.assert_array_equal(got, want.detach().numpy())


def _spike_tensors(model, x):
    """Every neuron's output in a forward pass, by module path."""
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.__setitem__(name, out.detach().numpy()))
             for name, m in model.named_modules() if isinstance(m, SpikingNeuron)]
    with torch.no_grad():
        y = model(x).numpy()
    for h in hooks:
        h.remove()
    return y, seen


@pytest.mark.parametrize("build", [spikformer, spikingformer], ids=lambda f: f.__name__)
def test_reference_models_end_to_end(build):
    torch.manual_seed(0)
    model = build("tiny").eval()
    randomize_batchnorm(model)
    proto = to_onnx(model, torch.rand(2, 2, 3, 16, 16))
    onnx.checker.check_model(proto, full_check=True)
    nodes = neuron_nodes(proto)
    assert len(nodes) == sum(isinstance(m, SpikingNeuron) for m in model.modules())
    for t, n in [(4, 2), (2, 3)]:
        x = torch.rand(t, n, 3, 16, 16) * 2
        want, spikes = _spike_tensors(model, x)
        got = run_ort(proto, {"x": x.numpy()}, outputs=[n.output[0] for n in nodes])
        for node in nodes:   # every spike tensor identical
            np.testing.assert_array_equal(got[node.output[0]], spikes[module_path(node)], err_msg=node.name)
        logits = got[proto.graph.output[0].name]
        # the residual stream is analog in Spikingformer: BN/mean may round differently
        np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-6)
        assert sum(s.sum() for s in spikes.values()) > 0


PAPER_PARAMS_M = [   # Spikingformer Tab. 1-2 (Spikformer's are the same sizes)
    ("4-384", "cifar10", 9.32), ("4-256", "cifar10", 4.15), ("2-384", "cifar10", 5.76),
    ("8-512", "imagenet", 29.68), ("8-768", "imagenet", 66.34),
]


@pytest.mark.parametrize("build", [spikformer, spikingformer], ids=lambda f: f.__name__)
@pytest.mark.parametrize("size,dataset,millions", PAPER_PARAMS_M)
def test_parameter_counts_match_the_papers(build, size, dataset, millions):
    with torch.device("meta"):
        model = build(size, dataset)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / 1e6 - millions) <= 0.01, count


class Foreign(nn.Module):
    """Stands in for a neuron from another SNN library."""

    def forward(self, x):
        return (x > 0).float()


# SpikingJelly's, snnTorch's, Norse's (LIFBoxCell, LIFCell) and Sinabs' (IAF, LIF) neurons
# translate (snnc.onnx.adapters); other Norse neurons are refused by name
Foreign.__module__ = "norse.torch.module.lif"


@pytest.mark.parametrize("bad,name", [
    (nn.Sequential(nn.Linear(3, 3), nn.LSTM(3, 3)), "'1'"),
    (nn.Sequential(nn.Linear(3, 3), Foreign()), "norse"),
])
def test_unsupported_module_is_named_in_one_line(bad, name, tmp_path):
    with pytest.raises(snnc.UnsupportedError) as info:
        snnc.export(bad, torch.rand(2, 2, 3), tmp_path / "m.onnx")
    message = str(info.value)
    assert name in message and "\n" not in message
    assert not (tmp_path / "m.onnx").exists()


def test_export_overwrites_a_file_like_torch_but_not_when_told_not_to(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"keep")
    with pytest.raises(snnc.SnncError, match="exists"):
        snnc.export(ConvNeuron(LIF(), LIF()), torch.rand(2, 2, 2, 6, 6), path, overwrite=False)
    assert path.read_bytes() == b"keep"
    snnc.export(ConvNeuron(LIF(), LIF()), torch.rand(2, 2, 2, 6, 6), path)     # torch.onnx.export's default
    onnx.checker.check_model(onnx.load(path), full_check=True)
    (tmp_path / "d.onnx").mkdir()
    with pytest.raises(snnc.SnncError, match="only a regular file"):
        snnc.export(ConvNeuron(LIF(), LIF()), torch.rand(2, 2, 2, 6, 6), tmp_path / "d.onnx")


def test_non_float32_input_is_a_clear_error():
    with pytest.raises(snnc.SnncError, match="float32"):
        to_onnx(ConvNeuron(LIF(), LIF()), torch.rand(2, 2, 2, 6, 6, dtype=torch.float64))
