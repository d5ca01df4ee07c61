"""The declarative rewrite engine (``snnc.ir.rewrite``): patterns and their bindings,
single-use conditions, fixpoint, declined candidates with their reasons, non-convergence,
and numerics unchanged (the IR interpreter on the graph before and after)."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.ir.build import emit
from snnc.ir.errors import IRError
from snnc.ir.graph import Graph, Value
from snnc.ir.interpret import run as interpret
from snnc.ir.kinds import ANALOG, SPIKE
from snnc.ir.registry import ELEMENTWISE, SYNAPTIC
from snnc.ir.rewrite import Pat, RewriteLog, Rule, apply_rules, matches, single_use


def graph(kind=ANALOG) -> Graph:
    g = Graph("rw")
    g.add_input(Value("x", (4,), kind=kind))
    return g


def const(g, name, value):
    return emit(g, "constant", [], name=name, params={"value": np.asarray(value, np.float32)}).outputs[0]


def same_numbers(before: Graph, after: Graph) -> None:
    feeds = {"x": np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)}
    a, b = interpret(before, feeds), interpret(after, feeds)
    assert list(a) == list(b)
    for name in a:
        np.testing.assert_array_equal(b[name], a[name])


# -- rules used below -----------------------------------------------------------------------
def bypass_root(g, m):
    """Readers of the root's output read its first input; the root goes."""
    g.replace_uses(m.root.outputs[0], m.root.inputs[0])
    g.remove_node(m.root.name)


def is_one(g, m):
    value = m["c"].params["value"]
    return None if np.all(value == 1) else f"the factor {value.tolist()} is not 1"


# before -> after:  %y = mul(%x, 1)  ->  (readers of %y read %x)
MUL_ONE = Rule("mul-by-one", Pat("mul", inputs=[None, Pat(const=True, name="c")]), bypass_root, check=is_one)
# before -> after:  %a = relu(%x); %b = relu(%a)  ->  %b = relu(%x)   (%a read by %b alone)
RELU_RELU = Rule("relu-relu", Pat("relu", inputs=[Pat("relu", single_use=True, name="inner")]),
                 lambda g, m: g.replace_uses(m["inner"].outputs[0], m["inner"].inputs[0]))
def remove_root(g, m):
    g.remove_node(m.root.name)


# before -> after:  a node nothing reads  ->  (gone)
DEAD = Rule("dead", Pat(where=lambda g, n: n.op != "constant" and not any(g.users(v) or v in g.outputs
                                                                         for v in n.outputs)), remove_root)


# -- patterns -------------------------------------------------------------------------------
def test_a_pattern_binds_the_node_and_its_producers():
    g = graph()
    r = emit(g, "relu", ["x"], name="r")
    c = const(g, "c", 2.0)
    m = emit(g, "mul", ["r", c], name="m")
    g.outputs = ["m"]
    pat = Pat("mul", inputs=[Pat("relu", name="act"), Pat(const=True, name="scale")], name="mul")
    found = pat.match(g, m)
    assert found == {"mul": m, "act": r, "scale": g.producer(c)} and found.root is m
    assert [f.root.name for f in matches(g, pat)] == ["m"]
    assert pat.match(g, r) is None                                                  # wrong op
    assert Pat("mul", inputs=[Pat("relu"), Pat("relu")]).match(g, m) is None        # wrong producer
    assert Pat("mul", inputs=[None]).match(g, m) is None                            # input count differs
    assert Pat("relu", inputs=[Pat()]).match(g, r) is None                          # a graph input has no producer
    assert Pat({"add", "mul"}).match(g, m) and Pat(trait=ELEMENTWISE).match(g, m)
    assert Pat(trait=SYNAPTIC).match(g, m) is None
    assert Pat(shape=lambda s: s == (4,)).match(g, m) and not Pat(shape=lambda s: s == (5,)).match(g, m)
    assert Pat(kind=lambda k: k == ANALOG).match(g, m) and not Pat(kind=lambda k: k == SPIKE).match(g, m)


def test_a_name_bound_twice_must_be_the_same_node():
    g = graph()
    emit(g, "relu", ["x"], name="a")
    emit(g, "relu", ["x"], name="b")
    same = emit(g, "add", ["a", "a"], name="same")
    other = emit(g, "add", ["a", "b"], name="other")
    pat = Pat("add", inputs=[Pat(name="v"), Pat(name="v")])
    assert pat.match(g, same) is not None and pat.match(g, other) is None


def test_single_use_counts_every_read_and_graph_outputs():
    g = graph()
    r = emit(g, "relu", ["x"], name="r")
    m = emit(g, "mul", ["r", const(g, "c", 2.0)], name="m")
    g.outputs = ["m"]
    pat = Pat("mul", inputs=[Pat("relu", single_use=True, name="r"), None])
    assert pat.match(g, m)["r"] is r and single_use(g, r, m)
    assert not single_use(g, m)                                          # a graph output
    emit(g, "neg", ["r"], name="n")                                       # a second reader
    g.outputs = ["m", "n"]
    assert pat.match(g, m) is None and not single_use(g, r)
    assert Pat("mul", inputs=[Pat("relu"), None]).match(g, m) is not None
    twice = emit(g, "add", ["n", "n"], name="twice")                     # one node, two reads
    assert not single_use(g, g.node("n"), twice)


# -- the driver -----------------------------------------------------------------------------
def test_apply_rules_runs_to_fixpoint_where_one_rule_enables_another():
    g = graph()
    emit(g, "relu", ["x"], name="a")
    emit(g, "relu", ["a"], name="b")
    emit(g, "neg", ["a"], name="unused")          # a has two readers: relu-relu cannot fire yet
    g.outputs = ["b"]
    out, log = apply_rules(g, [RELU_RELU, DEAD])
    # sweep 1 removes 'unused'; sweep 2 folds b's relu(relu); sweep 3 removes 'a'; sweep 4: nothing
    assert [(e.sweep, e.rule, e.node) for e in log.applied] == \
        [(1, "dead", "unused"), (2, "relu-relu", "b"), (3, "dead", "a")]
    assert log.sweeps == 4 and log.count() == 3 and log.count("dead") == 2
    assert [(n.name, n.inputs) for n in out.nodes] == [("b", ["x"])]
    assert len(g) == 3, "the input graph is not touched"
    same_numbers(g, out)


def test_a_declined_candidate_is_logged_with_its_reason():
    g = graph()
    emit(g, "mul", ["x", const(g, "one", 1.0)], name="by_one")
    emit(g, "mul", ["by_one", const(g, "two", 2.0)], name="by_two")
    g.outputs = ["by_two"]
    log = RewriteLog()
    out, same = apply_rules(g, [MUL_ONE], log)
    assert same is log and log.count("mul-by-one") == 1
    assert [(e.rule, e.node, e.reason) for e in log.declined] == [("mul-by-one", "by_two", "the factor 2.0 is not 1")]
    assert "declined: the factor 2.0 is not 1" in "\n".join(log.lines())
    assert out.producer("by_two").inputs[0] == "x"
    same_numbers(g, out)


def test_a_rewrite_may_decline_itself_and_must_return_a_reason_or_none():
    g = graph()
    emit(g, "relu", ["x"], name="r")
    g.outputs = ["r"]
    out, log = apply_rules(g, [Rule("no", Pat("relu"), lambda g, m: "not today")])
    assert [str(e) for e in log.declined] == ["[1] no at 'r': declined: not today"] and out.same_as(g)
    with pytest.raises(TypeError, match="rule 'bad' returned int"):
        apply_rules(g, [Rule("bad", Pat("relu"), lambda g, m: 1)])


def test_rules_that_never_settle_are_an_error():
    g = graph()
    emit(g, "relu", ["x"], name="r")
    g.outputs = ["r"]

    def touch(g, m):
        m.root.source += "!"            # always "changes" the graph

    with pytest.raises(IRError, match="did not converge after 5 sweeps.*forever at 'r'"):
        apply_rules(g, [Rule("forever", Pat("relu"), touch)], max_sweeps=5)
