"""SpikingJelly's bundled spiking transformers (Spikformer, Spike-driven Transformer,
QKFormer) export unmodified through ``snnc.export``: onnxruntime on the file and the IR
interpreter compute SpikingJelly's own outputs, and ``snnc check`` flags Spikformer's
integer-valued (residual) inputs to its synaptic layers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import require
from onnx_helpers import module_path, neuron_nodes, run_ort

torch = require("torch")
require("spikingjelly.activation_based")

from spikingjelly.activation_based import functional, neuron  # noqa: E402
from spikingjelly.activation_based.model import qkformer, spike_driven_transformer, spikformer  # noqa: E402

import snnc  # noqa: E402
from snnc.ir import interpret  # noqa: E402
from snnc.onnx.importer import import_model  # noqa: E402

# small configurations of the bundled models, as their constructors take them
MODELS = {
    "spikformer": lambda: spikformer.Spikformer(T=2, in_channels=3, img_size_h=32, img_size_w=32, patch_size=4,
                                                num_classes=10, embed_dims=32, num_heads=2, mlp_ratio=2.0,
                                                depths=1),
    "sdt": lambda: spike_driven_transformer.SpikeDrivenTransformer(T=2, in_channels=3, num_classes=10,
                                                                   embed_dims=32, num_heads=2, depths=1,
                                                                   mlp_ratio=2.0),
    "qkformer": lambda: qkformer.QKFormer(T=2, in_channels=3, num_classes=10, embed_dims=48, num_heads=(1, 2, 2),
                                          depths=(1, 1, 1), mlp_ratio=2.0),
}


def liven(model) -> None:
    """Weights that make every layer spike (the constructors' trunc_normal(0.02) init keeps
    the network silent, and a silent network would make any comparison vacuous)."""
    g = torch.Generator().manual_seed(2)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.weight.data = torch.randn(m.num_features, generator=g) * 1.5
            m.bias.data = 1.0 + torch.randn(m.num_features, generator=g)
        elif isinstance(m, torch.nn.Linear) and m.bias is not None:
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1


_EXPORTS: dict = {}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory):
    return export_once(request.param, tmp_path_factory)


def export_once(name, tmp_path_factory):
    """Export bundled model ``name`` (once per test session: exporting takes seconds)."""
    if name not in _EXPORTS:
        _EXPORTS[name] = _export(name, tmp_path_factory)
    return _EXPORTS[name]


def _export(name, tmp_path_factory):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    liven(model)
    x = torch.rand(4, 2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    spikes = {}
    def keep(name):
        def hook(_module, _inputs, out):
            spikes[name] = out.numpy()      # returns None: the output stays as it is
        return hook

    hooks = [m.register_forward_hook(keep(name)) for name, m in model.named_modules()
             if isinstance(m, neuron.BaseNode)]
    with torch.no_grad():
        want = model(x).numpy()
    for h in hooks:
        h.remove()
    rates = [float(s.mean()) for s in spikes.values()]
    assert len(rates) >= 10 and all(0.0 < r for r in rates), f"every neuron layer must fire: {rates}"
    functional.reset_net(model)
    path = tmp_path_factory.mktemp(name) / f"{name}.onnx"
    proto = snnc.export(model, x, path)
    return name, x.numpy(), want, proto, path, spikes


def test_every_neuron_spikes_as_spikingjelly(exported):
    """onnxruntime's spikes at every neuron, matched to its module by name, equal SpikingJelly's."""
    _, x, _, proto, _, spikes = exported
    neurons = {module_path(n): n.output[0] for n in neuron_nodes(proto)}
    assert set(neurons) == set(spikes)
    got = run_ort(proto, {"x": x}, outputs=list(neurons.values()))
    for name, tensor in neurons.items():
        np.testing.assert_array_equal(got[tensor].reshape(spikes[name].shape), spikes[name], err_msg=name)


def test_bundled_transformer_runs_as_spikingjelly(exported):
    name, x, want, proto, _, _ = exported
    assert np.abs(want).max() > 0.01, "a head that outputs ~0 would make the comparison vacuous"
    # the head is analog (a mean and a matmul of spikes): summation order may differ by an ulp
    np.testing.assert_allclose(next(iter(run_ort(proto, {"x": x}).values())), want, rtol=1e-5, atol=1e-6)
    graph = import_model(proto).graph
    assert sum(n.op == "lif" for n in graph.nodes) >= 5
    got = next(iter(interpret.run(graph, {"x": x}).values())).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_snnc_check_flags_spikformers_integer_inputs(tmp_path_factory):
    """Spikformer's residual sums (spike + spike) feed its qkv and fc1 convolutions."""
    path = export_once("spikformer", tmp_path_factory)[4]
    out = subprocess.run([sys.executable, "-m", "snnc", "check", str(path)], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    flagged = {line.split("'")[1] for line in out.stdout.splitlines() if line.startswith("error[SNN002]")}
    assert flagged == {"blocks.0.attn.qkv_conv_bn.0", "blocks.0.mlp.fc1.0"}


def test_spiking_neuron_hook_takes_snnc_lif():
    """``Spikformer(spiking_neuron=snnc.nn.LIF)``: the builder passes step_mode='m', which
    snnc's neurons accept; the model equals the one with SpikingJelly's own LIFNode."""
    from snnc.nn import LIF

    def build(spiking_neuron, **kwargs):
        torch.manual_seed(0)
        model = spikformer.Spikformer(T=2, in_channels=3, img_size_h=32, img_size_w=32, patch_size=4, num_classes=10,
                                      embed_dims=32, num_heads=2, mlp_ratio=2.0, depths=1,
                                      spiking_neuron=spiking_neuron, **kwargs).eval()
        liven(model)
        return model

    theirs, ours = build(None), build(LIF, tau=2.0, detach_reset=True)
    count = sum(isinstance(m, neuron.LIFNode) for m in theirs.modules())
    assert count > 0 and sum(isinstance(m, LIF) for m in ours.modules()) == count
    x = torch.rand(4, 2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = theirs(x).numpy()
        np.testing.assert_array_equal(ours(x).numpy(), want)
    # exporting it is exporting the LIFNode model, which the tests above do (the adapter
    # translates LIFNode into this very module)
