"""The IR's own pieces: graph editing, the verifier, the printer, JSON, spike kinds."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.ir import IRError, kinds, serialize
from snnc.ir.build import emit
from snnc.ir.graph import Graph, Node, Value
from snnc.ir.printer import graph_str
from snnc.ir.verify import problems, verify


def small_graph() -> Graph:
    g = Graph("net")
    g.add_input(Value("x", (2, 6, 6)))
    emit(g, "conv", ["x"], name="conv1", attrs={"pads": [1, 1, 1, 1]},
         params={"weight": np.ones((4, 2, 3, 3), np.float32), "bias": np.zeros(4, np.float32)})
    emit(g, "lif", ["conv1"], name="lif1", attrs={"tau": 2.0, "v_threshold": 1.0})
    emit(g, "maxpool", ["lif1"], name="pool", attrs={"kernel_shape": [2, 2], "strides": [2, 2]})
    emit(g, "mean_time", ["pool"], name="rate")
    g.outputs = ["rate"]
    return g


def test_printer_reads_like_the_style_guide():
    text = graph_str(small_graph())
    assert text.splitlines() == [
        "graph net(%x: analog[2,6,6]) {",
        "  %conv1 = conv[pads=1](%x) {weight: f32[4,2,3,3], bias: [0,0,0,0]} : analog[4,6,6]",
        "  %lif1 = lif(%conv1) : spike[4,6,6]",
        "  %pool = maxpool[kernel_shape=2x2, strides=2](%lif1) : spike[4,3,3]",
        "  %rate = mean_time(%pool) : analog[4,3,3] @N",
        "  return %rate",
        "}",
    ]


def test_editing_keeps_producers_users_and_order():
    g = small_graph()
    assert g.producer("lif1").name == "lif1" and [n.name for n in g.users("conv1")] == ["lif1"]
    emit(g, "identity", ["lif1"], name="copy")
    g.replace_uses("lif1", "copy", exclude=["copy"])
    assert [n.name for n in g.users("copy")] == ["pool"]
    assert [n.name for n in g.nodes] == ["conv1", "lif1", "copy", "pool", "rate"]
    with pytest.raises(ValueError, match="still read"):
        g.remove_node("copy")
    g.replace_uses("copy", "lif1")
    g.remove_node("copy")
    assert [n.name for n in g.nodes] == ["conv1", "lif1", "pool", "rate"] and not problems(g)


def test_copy_is_independent():
    g = small_graph()
    h = g.copy()
    assert h.same_as(g)
    h.node("lif1").attrs["tau"] = 3.0
    assert g.node("lif1").attrs["tau"] == 2.0 and not h.same_as(g)


def test_verifier_finds_a_wrong_shape_and_a_wrong_kind():
    g = small_graph()
    g.values["pool"].shape = (4, 2, 2)
    g.values["lif1"].kind = kinds.ANALOG
    found = problems(g)
    assert any("'pool'" in p and "shape" in p for p in found)
    assert any("'lif1'" in p and "kind" in p for p in found)
    with pytest.raises(IRError, match="malformed"):
        verify(g)


def test_verifier_finds_a_cycle():
    g = Graph()
    g.add_input(Value("x", (3,)))
    g.add_value(Value("b", (3,)))
    g.add_node(Node("a", "add", ["x", "b"], ["a"]), [Value("a", (3,))])
    g.add_node(Node("b", "relu", ["a"], ["b"]))
    g.outputs = ["a"]
    assert problems(g) and problems(g)[0].startswith("cycle")


def test_json_round_trip_and_errors():
    g = small_graph()
    again = serialize.from_json(serialize.to_json(g))
    assert again.same_as(g) and again.node("conv1").params["weight"].dtype == np.float32
    for bad, message in [("[1, 2]", "expected a JSON object"), ("{", "not JSON"),
                         ('{"format": "other"}', "not an snnc IR document"),
                         ('{"format": "snnc-ir", "version": 1}', "malformed")]:
        with pytest.raises(IRError, match=message):
            serialize.from_json(bad)


def test_kind_lattice():
    assert kinds.join(kinds.SPIKE, kinds.count(2)) == kinds.count(2)
    assert kinds.join(kinds.SPIKE, kinds.ANALOG) == kinds.ANALOG
    assert kinds.add(kinds.SPIKE, kinds.SIGNED).levels == frozenset({-1.0, 0.0, 1.0, 2.0})
    assert kinds.mul(kinds.SPIKE, kinds.Kind.of([0.5])).name == "graded(2)"
    assert kinds.count(10_000) == kinds.ANALOG                    # past MAX_LEVELS
    assert kinds.Kind.of_array(np.array([0.0, 1.0, 1.0])) == kinds.SPIKE
    assert kinds.Kind.from_json(kinds.count(3).to_json()) == kinds.count(3)
