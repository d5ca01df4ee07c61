"""Each op's attribute defaults have one home, its OpDef (issue 12).

Nodes come out of the ONNX importer, the IR reader and ``emit`` with every declared
attribute filled, so the reference semantics, lowerings and backends read
``node.attrs["x"]``; an unknown or missing attribute is refused by name, and a
hand-edited IR document that has one is one ``snnc: error:`` line with exit code 2.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from snnc.backends.sim.simulator import simulate
from snnc.cli import main
from snnc.ir import REGISTRY, Graph, IRError, Node, Value, get
from snnc.ir.build import emit
from snnc.ir.interpret import run as interpret
from snnc.ir.serialize import from_json, graph_to_dict, to_json
from snnc.ir.verify import verify
from snnc.onnx.importer import import_onnx
from snnc.onnx.ir_to_onnx import graph_to_onnx

from pass_models import random_onnx, reference_onnx

_TYPES = (int, float, str, bool, "ints", "floats")


def test_every_op_declares_typed_attributes_whose_defaults_pass_their_own_check():
    for name, opdef in REGISTRY.items():
        for attr, spec in opdef.attrs.items():
            assert spec.type in _TYPES, f"{name}.{attr}: type {spec.type!r}"
            if not spec.required:
                assert spec.check(spec.default), f"{name}.{attr}: default {spec.default!r} is not a {spec.type}"


class _Reads(dict):
    """A node's attrs that note every name code reads, with ``[]`` or ``get`` (``in`` only
    asks whether the op has it: the neuron checks share one function)."""

    def __init__(self, node, seen):
        super().__init__(node.attrs)
        self._op, self._seen = node.op, seen

    def _note(self, key):
        self._seen.setdefault(self._op, set()).add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._note(key)
        return super().get(key, default)


@pytest.fixture(scope="module", params=["spikingformer", "random"])
def imported(request):
    """Spikingformer-tiny from the model zoo, and a grouped-conv / conv-transpose / conv1d
    / linear net, as the importer builds them."""
    model = reference_onnx("spikingformer") if request.param == "spikingformer" else random_onnx(3)
    return import_onnx(model)


def test_imported_nodes_hold_exactly_their_ops_attributes(imported):
    ops = set()
    for node in imported.nodes:
        declared = get(node.op).attrs
        assert sorted(node.attrs) == sorted(declared), node
        for name, value in node.attrs.items():
            assert declared[name].check(value), f"{node.name}.{name} = {value!r}"
        ops.add(node.op)
    assert ops & {"lif", "if"} and ops & {"conv", "conv_transpose", "linear"}


def test_everything_that_runs_a_graph_reads_only_declared_attributes(imported):
    """The table is complete for what the code reads: inference (verify), the numpy
    reference, the simulator and the ONNX lowering ask for no attribute the OpDef lacks."""
    graph = imported.copy()
    seen: dict[str, set[str]] = {}
    for node in graph.nodes:
        node.attrs = _Reads(node, seen)
    verify(graph)
    x = np.random.default_rng(0).random((2, 2, *graph.values[graph.inputs[0]].shape), dtype=np.float32)
    interpret(graph, {graph.inputs[0]: x})
    simulate(graph, {graph.inputs[0]: x})
    graph_to_onnx(graph)
    for op, names in seen.items():
        assert names <= set(get(op).attrs), f"{op} reads {sorted(names - set(get(op).attrs))}, undeclared"
    assert {"tau", "v_threshold", "v_reset", "soft_reset", "decay_input"} <= seen["lif"]


def _lif_graph(attrs: dict) -> Graph:
    g = Graph("g")
    g.add_input(Value("x", (4,)))
    emit(g, "lif", ["x"], name="n", attrs=attrs)
    g.outputs = ["n"]
    return g


def test_defaults_are_filled_once_and_keep_what_was_given():
    given = {"v_threshold": 0.5}
    node = Node("n", "lif", ["x"], ["n"], given)
    # SpikingJelly's LIFNode: tau=2, v_threshold=1, v_reset=0, hard reset, decay_input=True
    assert node.attrs == {"v_threshold": 0.5, "tau": 2.0, "decay_input": 1, "v_reset": 0.0, "soft_reset": 0}
    assert list(node.attrs)[0] == "v_threshold" and given == {"v_threshold": 0.5}   # the caller's dict kept
    conv = Node("c", "conv", ["x"], ["c"], {"pads": [1, 1]})
    assert conv.attrs == {"pads": [1, 1], "strides": (), "dilations": (), "group": 1}
    clip = Node("k", "clip", ["x"], ["k"], {"min": 0.0})
    assert clip.attrs == {"min": 0.0, "max": None}          # None: no upper bound, as ONNX Clip
    # a pass that replaces attrs wholesale gets them completed when the node is added
    g = Graph("g")
    g.add_input(Value("x", (4,)))
    late = Node("n", "if", ["x"], ["y"])
    late.attrs = {"v_threshold": 2.0}
    g.add_node(late, [Value("y", (4,))])
    assert late.attrs == {"v_threshold": 2.0, "v_reset": 0.0, "soft_reset": 0}


def test_an_ir_document_without_defaults_reads_back_complete():
    doc = graph_to_dict(_lif_graph({}))
    doc["nodes"][0]["attrs"] = {"tau": 4.0}
    graph = from_json(json.dumps(doc))
    assert graph.node("n").attrs == {"tau": 4.0, "decay_input": 1, "v_threshold": 1.0, "v_reset": 0.0,
                                     "soft_reset": 0}
    assert from_json(to_json(graph)).same_as(graph)


def test_unknown_and_missing_attributes_name_the_op_and_what_it_takes():
    with pytest.raises(IRError) as err:
        _lif_graph({"tua": 2.0})
    assert str(err.value) == ("node 'n' (lif): unknown attribute 'tua' "
                              "(lif takes tau, decay_input, v_threshold, v_reset, soft_reset)")
    g = Graph("g")
    g.add_input(Value("x", (4,)))
    with pytest.raises(IRError, match=r"node 's' \(slice\): missing attribute 'ends' "
                                      r"\(slice takes starts, ends, axes, steps; 'ends' has no default\)"):
        emit(g, "slice", ["x"], name="s", attrs={"starts": [0]})
    with pytest.raises(IRError, match=r"unknown attribute 'group' \(relu takes no attributes\)"):
        g.add_node(Node("r", "relu", ["x"], ["r"], {"group": 1}), [Value("r", (4,))])
    assert "r" not in g


@pytest.mark.parametrize("attrs, message", [
    ({"tau": 2.0, "v_treshold": 0.5}, "unknown attribute 'v_treshold' (lif takes tau, decay_input, "
                                      "v_threshold, v_reset, soft_reset)"),
])
def test_a_hand_edited_document_is_one_error_line_exit_2(tmp_path, capsys, attrs, message):
    doc = graph_to_dict(_lif_graph({}))
    doc["nodes"][0]["attrs"] = attrs
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    assert main(["show", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"snnc: error: node 'n' (lif): {message}"


def test_a_document_missing_a_required_attribute_is_refused(tmp_path, capsys):
    g = Graph("g")
    g.add_input(Value("x", (2, 3)))
    emit(g, "transpose", ["x"], name="t", attrs={"perm": [1, 0]})
    g.outputs = ["t"]
    doc = graph_to_dict(g)
    doc["nodes"][0]["attrs"] = {}
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    assert main(["show", str(path)]) == 2
    assert capsys.readouterr().err.strip() == ("snnc: error: node 't' (transpose): missing attribute 'perm' "
                                               "(transpose takes perm; 'perm' has no default)")
