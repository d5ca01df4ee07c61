"""The quantiser's rule that aligns the step lags of a multi-input op's inputs: ``lag-align``.

    lag-align
        %z = op(%x, %y)          (a host op in the Lava run; lag(x) = a < lag(y) = b)
        ->  %x.delay = delay[steps=b-a](%x); %z = op(%x.delay, %y)

        %d = add(%s1', %s2'); %n = loihi_lif(%d)   (a dendritic sum, quant_residual.py;
                                 the less-lagged synapse %s1' reads a *host* value %h)
        ->  %h.delay = delay[steps=b-a](%h); %s1' = loihi_*(%h.delay)

Every Loihi synapse delivers one step late, so a value lags its float counterpart by the
synapses on its longest path (:func:`snnc.backends.loihi.latency.latency`). An op whose
inputs come from branches of different depth then combines different float steps: the
tiny Spikformer's ``block.0.add`` reads the tokenizer at lag 7 and the attention branch at
lag 9 and adds ``x(t - 7) + y(t - 9)`` where the float model adds ``x(t) + y(t)``. Delaying
every less-lagged input to the largest lag,

    op(x(t - b), y(t - b)) = float op(x, y) at step t - b,

makes the op's output the float one, b steps late, which is what ``latency`` already says
of it: nothing downstream changes lag (the largest input lag is unchanged), so every chip
neuron keeps its ``start``. The delay is a host FIFO (``delay``, ``ir/ops/loihi.py``): it
runs in the host process of the Lava run (the same IR node, stepped) and in the
simulator's loihi numerics alike, so the two still agree bit for bit.

Where it does not apply, the plan says why (``q.meta["loihi"]["lags"]``, the quantisation
table):

- an op on chip whose less-lagged input comes from the chip (a sum of chip spike streams
  at an in-port, a dendritic sum whose earlier synapse reads chip spikes): delaying it on
  chip would need Loihi 2's synaptic delays, which Lava 0.10's Dense/Conv models do not
  implement; routing those spikes through the host instead would trade on-chip traffic
  for host traffic, the opposite of what the chip rules are for;
- an op after the chip (a decoder, the head's residual add): it runs on read-back values,
  which ``run_loihi(..., align=True)`` cuts each at its own lag, so they are aligned there.

A second rule moves the clock of the ops that count time (ECMT's ``cum_mean``, ``delta``,
``spiking_matmul``: S(t)/t, t·z(t), Supplement Eq. 2, Theorems 1-2) to the step their input
arrives:

    time-origin
        %m = cum_mean|delta|spiking_matmul(%x)   (a host op in the Lava run; lag(x) = L > 0)
        ->  %m = cum_mean|delta|spiking_matmul[start=L](%x)

Inside the run such an op is stepped from the run's first step, but its input is the
float input L steps late, with L empty steps before it: the running mean at step L + t
was S(t)/(L + t) where the float op has S(t)/t (the digits ViT's attention scores at
L = 3, its MLP at L = 8 and T = 4: the mean shrunk to a half and a third), and Delta's
t·z(t) weighed the steps wrongly as much. With ``start = L`` the op's t counts from the
input's first step, so its output is the float op's on the values it reads, L steps late
(the lag ``latency`` already gives it). Ops after the chip need nothing: ``align`` cuts
their inputs at their lags.
"""

from __future__ import annotations

from snnc.backends.loihi.chip import ON_CHIP, dendritic_sum, plan
from snnc.backends.loihi.latency import latency
from snnc.ir.build import infer_outputs
from snnc.ir.errors import UnsupportedError
from snnc.ir.graph import Graph, Node
from snnc.ir.rewrite import Match, Pat, Rule

NAME = "lag-align"
CHIP_SIDE = ("a chip-side delay would need Loihi 2 synaptic delays (Lava's Dense/Conv models have none); "
             "the earlier input stays {k} step(s) ahead")


def _timed_lags(graph: Graph, node: Node, lag: dict[str, int]) -> dict[str, int]:
    return {v: lag.get(v, 0) for v in dict.fromkeys(node.inputs) if graph.values[v].timed}


def _misaligned(graph: Graph, node: Node) -> bool:
    if node.op == "delay" or sum(graph.values[v].timed for v in set(node.inputs)) < 2:
        return False
    return len(set(_timed_lags(graph, node, latency(graph)).values())) > 1


def _delay(q, graph: Graph, value: str, steps: int, reader: Node) -> str:
    """Add ``delay[steps](value)`` just before ``reader`` in the program and make only
    ``reader`` read it (a graph output stays what it was)."""
    name = graph.fresh_name(f"{value}.delay{steps}")
    node = Node(name, "delay", [value], [name], {"steps": steps}, source=reader.source)
    graph.add_node(node, infer_outputs(node, [graph.values[value]]))
    where, i = q.order.get(reader.name) or (q.pos[reader.name], 0)
    q.order[name] = (where, i - 0.5)        # before its reader, after the value's producer
    outputs = list(graph.outputs)
    graph.replace_uses(value, name, exclude=[u.name for u in graph.users(value) if u is not reader] + [name])
    graph.outputs = outputs
    return name


def _chip_values(p) -> set[str]:
    host = set(p.host)
    return {v for n in p.chip if n.name not in host for v in n.outputs}


def why_not(q, graph: Graph, m: Match) -> str | None:
    """None when the op can be aligned (module doc); else why not, recorded in the plan."""
    node = m.root
    lag = latency(graph)
    lags = _timed_lags(graph, node, lag)
    top = max(lags.values())
    try:
        p = plan(graph)
    except UnsupportedError as err:
        return _note(q, node, lags, f"no Lava plan ({err})")
    if node.name in set(p.host):
        return None
    if node.name not in {n.name for n in p.chip}:
        return _note(q, node, lags, "after the chip: run_loihi(align=True) cuts each read-back at its own lag")
    chip = _chip_values(p)
    if not dendritic_sum(graph, node):
        return _note(q, node, lags, "a sum of chip spike streams at an in-port: " + CHIP_SIDE.format(
            k=top - min(lags.values())))
    for v, d in lags.items():
        x = graph.producer(v).inputs[0]
        if d < top and x in chip:
            return _note(q, node, lags, f"dendritic sum: {graph.producer(v).name!r} reads chip value {x!r}: "
                         + CHIP_SIDE.format(k=top - d))
    return None


def _note(q, node: Node, lags: dict[str, int], reason: str) -> str:
    q.lag_notes[node.name] = {"node": node.name, "op": node.op, "lags": lags, "delayed": {}, "reason": reason}
    return reason


def align(q, graph: Graph, m: Match) -> None:
    """lag-align (module doc): delay each less-lagged input to the largest lag."""
    node = m.root
    lags = _timed_lags(graph, node, latency(graph))
    top = max(lags.values())
    delayed = {}
    for v, d in lags.items():
        if d == top:
            continue
        if node.op in ON_CHIP or dendritic_sum(graph, node):     # delay what the synapse reads, on the host
            syn = graph.producer(v)
            delayed[v] = _delay(q, graph, syn.inputs[0], top - d, syn)
        else:
            delayed[v] = _delay(q, graph, v, top - d, node)
    q.lag_notes[node.name] = {"node": node.name, "op": node.op, "lags": lags,
                              "delayed": {v: top - lags[v] for v in delayed}, "reason": None}


ORIGIN = "time-origin"
#: ops whose output depends on the step number t (ir/ops/conversion.py)
CLOCKED = frozenset({"cum_mean", "delta", "spiking_matmul"})


def _input_lag(graph: Graph, node: Node) -> int:
    lag = latency(graph)
    return max((lag.get(v, 0) for v in node.inputs if graph.values[v].timed), default=0)


def _clock_off(graph: Graph, node: Node) -> bool:
    return node.op in CLOCKED and node.attrs.get("start", 0) != _input_lag(graph, node)


def _in_run(graph: Graph, m: Match) -> str | None:
    try:
        p = plan(graph)
    except UnsupportedError as err:
        return f"no Lava plan ({err})"
    if m.root.name not in set(p.host):
        return "not a host op in the Lava run (after the chip, align cuts its inputs at their lags)"
    return None


def _set_origin(graph: Graph, m: Match) -> None:
    m.root.attrs["start"] = _input_lag(graph, m.root)


def origin_rule() -> Rule:
    """time-origin (module doc): a clocked host op in the run counts time from its input's lag."""
    return Rule(ORIGIN, Pat(where=_clock_off), _set_origin, check=_in_run)


def rule(q) -> Rule:
    """The rule, bound to quantiser ``q`` (which places the delays and keeps the notes)."""
    return Rule(NAME, Pat(where=_misaligned), lambda g, m: align(q, g, m), check=lambda g, m: why_not(q, g, m))
