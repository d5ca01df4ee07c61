"""Spike verification (``snnc check``) on the reference models, a SEW-ResNet block, ANNs
from another exporter, and small hand-built graphs, one per rule.

Every expected finding is derived by hand from the architecture in the test (the
comments say how), never read off the checker's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from ann_models import SEWBlock, SmallCNN, TinyViT, export_torchscript
from torch import nn

from snnc.check import ENCODER, HEAD, MAC, SPIKE_DRIVEN, check
from snnc.cli import main
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Value
from snnc.ir.printer import node_str
from snnc.models import spikformer, spikingformer
from snnc.nn import IF, LIF
from snnc.onnx.export import to_onnx
from snnc.onnx.importer import import_onnx

DEPTH = 4   # the "4-384" in Spikformer-4-384 / Spikingformer-4-384 (CIFAR-10 form)


def swap_neurons(model: nn.Module, variant: str) -> nn.Module:
    """Replace every LIF by a soft-reset LIF (``v_reset=None``) or by an IF neuron."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, LIF):
                new = (LIF(tau=child.tau, v_threshold=child.v_threshold, v_reset=None)
                       if variant == "soft" else IF(v_threshold=child.v_threshold, v_reset=child.v_reset))
                setattr(module, name, new)
    return model


def export(model: nn.Module, x: torch.Tensor) -> Graph:
    return import_onnx(to_onnx(model.eval(), x))


@pytest.fixture(scope="module")
def reference():
    """``reference(name, variant)``: Spikformer / Spikingformer-4-384 on CIFAR-10, each
    exported once for this module (5-10 s each) and dropped after it."""
    cache: dict = {}

    def get(name: str, variant: str = "lif") -> Graph:
        if (name, variant) not in cache:
            torch.manual_seed(0)
            model = {"spikformer": spikformer, "spikingformer": spikingformer}[name]("4-384")
            if variant != "lif":
                swap_neurons(model, variant)
            cache[name, variant] = export(model, torch.rand(2, 1, 3, 32, 32))
        return cache[name, variant]

    yield get
    cache.clear()


def verdicts(result) -> list[tuple]:
    return [(r.name, r.verdict, r.code, r.severity) for r in result.layers]


def findings(result) -> list[tuple]:
    return [(d.code, d.severity, d.node, d.message) for d in result.diagnostics]


# -- Spikformer: the integer-float residual ----------------------------------------------
def spikformer_residual_sites(depth: int) -> dict[str, tuple[str, int]]:
    """conv -> (ONNX node of the Add it reads, k of the count(k) it reads), by hand.

    The tokenizer ends with ``x = rpe_lif(...) + x_feat``: spike + spike = count(2), from
    ONNX node /patch_embed/Add. Block i reads that stream x and computes
    ``x = x + SSA(x)`` (/block.i/Add) then ``x = x + MLP(x)`` (/block.i/Add_1); SSA and
    MLP end in a LIF, so each Add adds one spike: k grows by one per Add. In block i,
    q_conv, k_conv and v_conv read the block input (the previous block's Add_1, or the
    tokenizer's Add for block 0) and fc1_conv reads /block.i/Add. Every other conv reads
    a LIF's spikes (through max-pool/reshape), and the head reads the mean over tokens
    and time, which is no longer a count. So 4 sites per block: 16 for depth 4, from
    1 + 2*depth - 1 = 8 distinct Adds (the last Add_1 feeds only the head).
    """
    sites, stream, k = {}, "/patch_embed/Add", 2
    for i in range(depth):
        for proj in ("q", "k", "v"):
            sites[f"block.{i}.attn.{proj}_conv"] = (stream, k)
        sites[f"block.{i}.mlp.fc1_conv"] = (f"/block.{i}/Add", k + 1)
        stream, k = f"/block.{i}/Add_1", k + 2
    return sites


def test_spikformer_flags_every_integer_float_residual(reference):
    graph = reference("spikformer")
    result = check(graph)
    expected = spikformer_residual_sites(DEPTH)
    assert len(expected) == 4 * DEPTH == 16 and len({a for a, _ in expected.values()}) == 2 * DEPTH
    found = result.by_code("SNN002")
    assert {d.node for d in found} == set(expected) and len(found) == 16
    for d in found:
        add_source, k = expected[d.node]
        (add,) = [n for n in graph.nodes if n.source == add_source]
        assert d.severity == "error" and d.source == graph.node(d.node).source
        assert f"reads count({k}) values from the spike + spike Add '{add.name}'" in d.message
        assert add.name in d.chain and d.chain[-1] in (add.name, graph.node(d.node).inputs[0])
        assert d.notes[0].startswith(f"made by {node_str(graph, add)}")
        assert "Spikingformer Eq. 4" in d.fix
    # nothing else is wrong: the other convs read spikes, and the attention products read
    # a LIF's spikes on one side (Q Kᵀ: spike x spike; (Q Kᵀ s) V: V is spikes)
    assert {d.code for d in result.diagnostics} == {"SNN001", "SNN002"}
    assert [(d.node, d.severity) for d in result.by_code("SNN001")] == \
        [("patch_embed.proj_conv", "note"), ("head", "note")]
    rows = {r.name: r for r in result.layers}
    assert all(rows[n].verdict == MAC for n in expected)
    # 5 tokenizer convs + 6 per block + the head = 30; spike-driven: the 30 less the
    # encoder, the head and the 16 residual readers
    assert len(result.synaptic_layers) == 5 + 6 * DEPTH + 1 == 30
    assert result.spike_driven_fraction == pytest.approx(12 / 30)
    assert [r.verdict for r in result.attention_products] == [SPIKE_DRIVEN] * 2 * DEPTH
    assert result.exit_code == 1


# -- Spikingformer: spike-driven residuals (Eq. 4) ---------------------------------------
def test_spikingformer_is_spike_driven_but_for_encoder_and_head(reference):
    result = check(reference("spikingformer"))
    assert result.exit_code == 0 and result.errors == [] and result.counts["warning"] == 0
    analog = [(r.name, r.verdict) for r in result.layers if r.verdict != SPIKE_DRIVEN]
    # the first conv encodes the image (MAC, Eq. 19), the FC head reads the mean (Eq. 14)
    assert analog == [("patch_embed.proj_conv", ENCODER), ("head", HEAD)]
    assert [(d.code, d.severity, d.node) for d in result.diagnostics] == \
        [("SNN001", "note", "patch_embed.proj_conv"), ("SNN001", "note", "head")]
    assert result.spike_driven_fraction == pytest.approx(28 / 30)
    strict_no_head = check(reference("spikingformer"), allow_analog_head=False, strict=True)
    assert [(d.node, d.severity) for d in strict_no_head.errors] == [("head", "error")]
    assert strict_no_head.exit_code == 1


@pytest.mark.parametrize("name", ["spikformer", "spikingformer"])
@pytest.mark.parametrize("variant", ["soft", "if"])
def test_same_verdicts_with_soft_reset_and_if_neurons(reference, name, variant):
    graph = reference(name, variant)
    neurons = [n for n in graph.nodes if n.op in ("lif", "if")]
    if variant == "soft":
        assert neurons and all(n.op == "lif" and n.attrs["soft_reset"] == 1 for n in neurons)
    else:
        assert neurons and all(n.op == "if" for n in neurons)
    base, other = check(reference(name)), check(graph)
    assert verdicts(other) == verdicts(base)
    assert [(d.code, d.severity, d.node, d.chain) for d in other.diagnostics] == \
        [(d.code, d.severity, d.node, d.chain) for d in base.diagnostics]


# -- SEW ResNet ---------------------------------------------------------------------------
@pytest.mark.parametrize("make", [dict(), dict(v_reset=None), dict(neuron=lambda: IF())],
                         ids=["lif", "soft", "if"])
def test_sew_block_add_of_spikes_into_a_conv_is_flagged(make):
    torch.manual_seed(0)
    graph = export(SEWBlock(**make), torch.rand(2, 1, 2, 8, 8))
    result = check(graph)
    # ADD(sn2, sn0) is spike + spike = count(2), and next_conv multiplies it by weights
    (d,) = result.by_code("SNN002")
    assert d.node == "next_conv" and "reads count(2) values" in d.message
    (add,) = [n for n in graph.nodes if n.op == "add"]
    assert f"Add '{add.name}'" in d.message and d.chain == (add.name,)
    assert [(r.name, r.verdict) for r in result.layers] == \
        [("stem", ENCODER), ("conv1", SPIKE_DRIVEN), ("conv2", SPIKE_DRIVEN), ("next_conv", MAC)]


# -- ANNs from another exporter ----------------------------------------------------------
def test_plain_cnn_gets_a_mac_finding_on_every_hidden_layer(tmp_path):
    export_torchscript(SmallCNN(), torch.rand(1, 3, 16, 16), tmp_path / "cnn.onnx")
    result = check(import_onnx(tmp_path / "cnn.onnx"))
    # ReLU outputs are analog: every conv but the stem (the encoder) runs as MACs, and
    # the FC after global pooling is the head
    assert [(d.node, d.severity) for d in result.by_code("SNN001")] == \
        [("stem.0", "note"), ("conv1", "error"), ("conv2", "error"), ("down.0", "error"), ("fc", "note")]
    assert {d.code for d in result.diagnostics} == {"SNN001"}   # every BN follows its conv
    assert result.spike_driven_fraction == 0.0
    no_head = check(import_onnx(tmp_path / "cnn.onnx"), allow_analog_head=False)
    assert ("fc", "error") in [(d.node, d.severity) for d in no_head.by_code("SNN001")]


def test_plain_vit_gets_mac_and_nonspike_findings_on_every_block(tmp_path):
    depth = 2
    export_torchscript(TinyViT(depth=depth), torch.rand(1, 3, 16, 16), tmp_path / "vit.onnx")
    graph = import_onnx(tmp_path / "vit.onnx")
    result = check(graph)
    # by hand, per block: qkv, proj, fc1 (mlp.0), fc2 (mlp.2) are linear layers on analog
    # values, and Q Kᵀ and softmax(.) V multiply two analog tensors; norm1, norm2
    # (LayerNorm), softmax and GELU's erf are non-spike operators between layers
    mac_sources, nonspike_sources = set(), set()
    for i in range(depth):
        b = f"/blocks/blocks.{i}"
        mac_sources |= {f"{b}/attn/qkv/MatMul", f"{b}/attn/proj/MatMul", f"{b}/mlp/mlp.0/MatMul",
                        f"{b}/mlp/mlp.2/MatMul", f"{b}/attn/MatMul", f"{b}/attn/MatMul_1"}
        nonspike_sources |= {f"{b}/norm1/LayerNormalization", f"{b}/norm2/LayerNormalization",
                             f"{b}/attn/Softmax", f"{b}/mlp/mlp.1/Erf"}
    errors = {d.source for d in result.by_code("SNN001") if d.severity == "error"}
    assert errors == mac_sources
    assert {d.source for d in result.by_code("SNN004")} == nonspike_sources
    assert all(d.severity == "error" for d in result.by_code("SNN004"))
    # the patch embedding (encoder) and the head are allowed; the final norm feeds only the
    # allowed head, so it is not on the spiking path — until the head is disallowed
    assert [(d.source, d.severity) for d in result.by_code("SNN001") if d.severity == "note"] == \
        [("/patch_embed/Conv", "note"), ("/head/Gemm", "note")]
    strict = check(graph, allow_analog_head=False)
    assert {d.source for d in strict.by_code("SNN004")} == nonspike_sources | {"/norm/LayerNormalization"}


# -- BatchNorm that fold-bn cannot fold (on the graph as imported) -------------------------
class BatchNormOrders(nn.Module):
    """conv-BN-LIF (folds), BN of spikes right after a LIF into a conv (cannot), and a conv
    whose output is read by both a BN and an Add (cannot: folding would change the Add's input)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.sn1 = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), LIF()
        self.bn_spikes = nn.BatchNorm2d(4)
        self.conv2, self.bn2, self.sn3 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), LIF()

    @staticmethod
    def _seq(f, x):
        t, n = x.shape[:2]
        y = f(x.flatten(0, 1))
        return y.reshape(t, n, *y.shape[1:])

    def forward(self, x):
        s = self.sn1(self._seq(lambda v: self.bn1(self.conv1(v)), x))
        s = self._seq(self.bn_spikes, s)
        y = self._seq(self.conv2, s)
        return self.sn3(self._seq(self.bn2, y) + y)


def test_unfoldable_batchnorms_are_found_in_the_imported_graph():
    torch.manual_seed(0)
    graph = export(BatchNormOrders(), torch.rand(2, 1, 2, 8, 8))
    assert sum(n.op == "batchnorm" for n in graph.nodes) == 3
    result = check(graph)
    found = {d.node: d for d in result.by_code("SNN005")}
    assert set(found) == {"bn_spikes", "bn2"} and all(d.severity == "warning" for d in found.values())
    assert "from lif 'sn1', not a Conv/Linear" in found["bn_spikes"].message
    assert "reads conv 'conv2', whose output is also read by 'add'" in found["bn2"].message
    # BN of spikes is analog (graded at best): conv2 reads it as MACs
    assert [d.node for d in result.by_code("SNN001") if d.severity == "error"] == ["conv2"]
    assert check(graph, strict=True).by_code("SNN005")[0].severity == "error"


# -- hand-built graphs: SN-before-ConvBN, pass-through ops, attention operands -------------
def linear(g: Graph, x: str, name: str, n: int = 8) -> str:
    w = np.linspace(-1, 1, n * g.values[x].shape[-1], dtype=np.float32).reshape(n, -1)
    return emit(g, "linear", [x], name=name, params={"weight": w}).name


def lif(g: Graph, x: str, name: str) -> str:
    return emit(g, "lif", [x], name=name).name


def const(g: Graph, value: float, name: str) -> str:
    return emit(g, "constant", [], name=name, params={"value": np.asarray(value, np.float32)}).name


def spiking_graph(middle) -> Graph:
    """x -> enc -> sn1, fc2 -> sn2; ``middle(g, sn1, sn2)`` makes the input of fc3 -> sn3,
    then mean over time -> head."""
    g = Graph("hand")
    g.add_input(Value("x", (8,)))
    s1 = lif(g, linear(g, "x", "enc"), "sn1")
    s2 = lif(g, linear(g, s1, "fc2"), "sn2")
    s3 = lif(g, linear(g, middle(g, s1, s2), "fc3"), "sn3")
    g.outputs = [linear(g, emit(g, "mean_time", [s3], name="rate").name, "head", 4)]
    return g


def test_spikes_made_by_logic_ops_are_sn_before_convbn_warnings():
    # SEW ResNet's IAND connection, (1 - s1) * s2: binary values, but made by sub and mul
    def iand(g, s1, s2):
        not1 = emit(g, "sub", [const(g, 1.0, "one"), s1], name="not1").name
        return emit(g, "mul", [not1, s2], name="iand").name

    result = check(spiking_graph(iand))
    (d,) = result.by_code("SNN003")
    assert (d.node, d.severity, d.chain) == ("fc3", "warning", ("not1", "iand"))
    assert "made by mul 'iand'" in d.message
    assert result.exit_code == 0 and check(spiking_graph(iand), strict=True).exit_code == 1
    assert {r.name: r.verdict for r in result.layers}["fc3"] == SPIKE_DRIVEN


@pytest.mark.parametrize("op, code", [("relu", None), ("identity", None), ("neg", "SNN003")])
def test_ops_that_map_spikes_onto_themselves_pass_through(op, code):
    result = check(spiking_graph(lambda g, s1, s2: emit(g, op, [s2], name="f").name))
    row = {r.name: r for r in result.layers}["fc3"]
    assert (row.verdict, row.code) == (SPIKE_DRIVEN, code)   # neg(spike) is signed: still events


@pytest.mark.parametrize("operands, verdict, code", [
    (("sn1", "sn2"), SPIKE_DRIVEN, None),       # spike x spike: AND-accumulate
    (("sn1", "fc2"), SPIKE_DRIVEN, None),       # spikes select rows of an analog matrix: ACs
    (("fc2", "enc"), MAC, "SNN001"),            # analog x analog
])
def test_attention_products_are_judged_by_their_operands(operands, verdict, code):
    def product(g, s1, s2):
        a, b = (emit(g, "reshape", [v], name=f"{v}_col", attrs={"shape": [8, 1]}).name for v in operands)
        bt = emit(g, "transpose", [b], name="bt", attrs={"perm": [1, 0]}).name
        return emit(g, "reshape", [emit(g, "matmul", [a, bt], name="qk").name], name="flat",
                    attrs={"shape": [64]}).name
    result = check(spiking_graph(product))
    row = {r.name: r for r in result.layers}["qk"]
    assert (row.weighted, row.verdict, row.code) == (False, verdict, code)


def test_encoder_reads_the_input_through_repeat_time_reshapes_and_normalisation():
    g = Graph("hand")
    g.add_input(Value("x", (2, 4), axes="N"))                     # a static image, once per sample
    x = emit(g, "repeat_time", ["x"], name="direct", attrs={"timesteps": 4}).name
    x = emit(g, "reshape", [x], name="flat", attrs={"shape": [8]}).name
    x = emit(g, "sub", [x, const(g, 0.5, "mean")], name="centre").name
    s = lif(g, linear(g, x, "enc"), "sn1")
    g.outputs = [linear(g, emit(g, "mean_time", [lif(g, linear(g, s, "fc2"), "sn2")], name="rate").name,
                        "head", 4)]
    result = check(g)
    assert [(r.name, r.verdict) for r in result.layers] == \
        [("enc", ENCODER), ("fc2", SPIKE_DRIVEN), ("head", HEAD)]
    assert result.exit_code == 0 and result.spike_driven_fraction == pytest.approx(1 / 3)


@pytest.mark.parametrize("where, flagged", [("before_encoder", False), ("between", True),
                                            ("after_head", False)])
def test_nonspike_operators_count_only_on_the_spiking_path(where, flagged):
    g = Graph("hand")
    g.add_input(Value("x", (8,)))
    x = emit(g, "softmax", ["x"], name="sm").name if where == "before_encoder" else "x"
    s = lif(g, linear(g, x, "enc"), "sn1")
    h = emit(g, "softmax", [linear(g, s, "fc2")], name="sm").name if where == "between" else linear(g, s, "fc2")
    rate = emit(g, "mean_time", [lif(g, h, "sn2")], name="rate").name
    out = linear(g, rate, "head", 4)
    g.outputs = [emit(g, "softmax", [out], name="sm").name if where == "after_head" else out]
    assert [d.node for d in check(g).by_code("SNN004")] == (["sm"] if flagged else [])


# -- listing, JSON, command line -----------------------------------------------------------
def test_listing_groups_by_rule_with_counts_and_ends_with_a_summary(reference):
    graph = reference("spikformer")
    text = check(graph).format()
    lines = text.splitlines()
    assert lines[0] == "SNN001 non-spike input to a layer (MACs): 2 notes"
    assert "SNN002 integer-float residual: 16 errors" in lines
    assert text.index("SNN001 non-spike") < text.index("SNN002 integer-float") < text.index("layer   ")
    first = lines.index("SNN002 integer-float residual: 16 errors") + 2
    assert lines[first] == ("error[SNN002]: integer-float residual: 'block.0.attn.q_conv' reads count(2) "
                            "values from the spike + spike Add 'patch_embed.add'  [onnx: /block.0/attn/q_conv/Conv]")
    assert lines[first + 1] == "  " + node_str(graph, graph.node("block.0.attn.q_conv"))
    assert lines[-1] == ("snnc check main: 16 errors, 0 warnings, 2 notes; 12/30 synaptic layers "
                         "spike-driven (40.0%), 8/8 attention products spike-driven")


def test_cli_exit_codes_json_and_options(reference, tmp_path, capsys):
    from snnc.ir.serialize import to_json
    from snnc.onnx.io import save_model

    torch.manual_seed(0)
    save_model(to_onnx(spikformer("tiny").eval(), torch.rand(2, 1, 3, 16, 16)), tmp_path / "sf.onnx")
    (tmp_path / "sg.json").write_text(to_json(reference("spikingformer")))
    assert main(["check", str(tmp_path / "sg.json")]) == 0
    assert "0 errors, 0 warnings, 2 notes" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "sg.json"), "--no-allow-analog-head"]) == 1
    capsys.readouterr()
    assert main(["check", str(tmp_path / "sf.onnx"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    # tiny: one block, so the tokenizer Add feeds q/k/v and block.0's Add feeds fc1
    assert [d["node"] for d in doc["diagnostics"] if d["code"] == "SNN002"] == \
        ["block.0.attn.q_conv", "block.0.attn.k_conv", "block.0.attn.v_conv", "block.0.mlp.fc1_conv"]
    assert set(doc["diagnostics"][0]) >= {"code", "severity", "node", "op", "source", "chain", "message", "fix"}
    assert doc["summary"]["synaptic_layers"] == len([r for r in doc["layers"] if r["weighted"]]) == 12
    assert doc["summary"]["spike_driven_fraction"] == pytest.approx(6 / 12) and doc["exit_code"] == 1
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    done = subprocess.run([sys.executable, "-m", "snnc", "check", str(tmp_path / "bad.onnx")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("snnc: error: ")
    assert main(["check", str(tmp_path / "missing.onnx")]) == 2
