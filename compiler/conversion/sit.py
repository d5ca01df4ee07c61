"""``sit``: ECMT's conversion with SIT's Spiking-Softmax in place of the ANN's softmax
(SIT, ``../shared/seeds/001_*``, Eq. 1-10).

Everything :mod:`snnc.conversion.ecmt` does is done first (multi-threshold neurons before
synaptic layers, spiking matmuls, expectation compensation); then one more rule:

    # spiking-softmax (SIT Eq. 1): softmax -> SI-exp neurons -> SI-norm neuron
    %y = softmax[axis](%x)  ->  %s = [sigmoid](%x); %s' = [%s − reduce_max[axis](%s)]
                                %e = si_exp[K, T, h, d](%s'); %y = si_norm[axis](%e)

How Spiking-Softmax meets the network's time steps. SIT converts the ANN with the softmax
fed the floating-point attention scores: its SI-exp neurons take "the floating-point input"
(Section 3.3, Fig. 3) and run K inner steps of their own to produce exp; SI-norm
normalises those (Fig. 2, 5b). The paper runs no outer time loop around it. In an ECMT
network the scores arrive as a stream whose running mean is the ANN's score, so the
Spiking-Softmax sits inside the expectation compensation, where the softmax was:

    cum_mean -> si_exp -> si_norm -> delta        (ECMT Theorem 1 with f = Spiking-Softmax)

At every step it sees the accumulated input (the running mean of the scores: the best
estimate of the ANN's floating-point input), runs its K inner steps on it, and the delta
turns the result back into per-step outputs whose running mean at step t is
Spiking-Softmax(running mean of the scores). So the SNN's T and the K inner steps are
independent: K fixes how well exp is approximated (SIT Fig. 7: K = 12 by default), T how
well the running means have converged. The fixed base threshold 0.0125 of the neuron
after a softmax (ECMT §4.1) is kept. ``pre_sigmoid`` puts SIT's sigmoid before it (Section
4.3.3), an ANN change the paper fine-tunes for: without fine-tuning it computes
softmax(sigmoid(x)), not softmax(x).

The shift (``shift``, on by default; ``--no-softmax-shift`` follows the paper to the
letter) is beyond the paper. SI-exp's tables are fitted on [−1, 1] only: above ≈ 1.3 it
saturates at ≈ 2.9, below −1 it fires no spike (0). A trained ANN's attention scores
rarely stay in [−1, 1] (SIT fine-tunes with the sigmoid for that reason), and saturation
at the top flattens the attention. Softmax is shift-invariant, softmax(x) = softmax(x −
max x) — Eq. 1 holds unchanged — so subtracting each row's max puts the largest score at
0, where SI-exp is accurate, and only scores more than 1 below the row's max (weights
under e⁻¹ of the largest) are cut to 0. On the digits ViT of ``tests/test_convert_sit.py``
(ANN 89% on 200 test images) the SNN at T = 8 reaches 86% with the shift and 28.5%
without it. The max and the subtraction run inside the compensation, charged with it.
"""

from __future__ import annotations

from snnc.ir.build import emit
from snnc.ir.graph import Graph
from snnc.ir.rewrite import Match, Pat, RewriteLog, Rule, apply_rules
from snnc.passes.rewrite import reinfer

DEFAULT_STEPS = 12


def si_exp_attrs(steps: int) -> dict:
    """The ``si_exp`` attributes from the shipped fitted tables (``snnc.nn.sit.shipped_ks()``)."""
    from snnc.ir.errors import SnncError
    from snnc.nn.sit import load_tables, shipped_ks

    tables = load_tables()
    if str(steps) not in tables:
        raise SnncError(f"--softmax-steps {steps}: no fitted SI-exp table for K = {steps}; "
                        f"choose one of {shipped_ks()}")
    tab = tables[str(steps)]
    return {"K": int(steps), "T": [float(v) for v in tab["T"]], "h": [float(v) for v in tab["h"]],
            "d": [float(v) for v in tab["d"]]}


def spiking_softmax_rule(steps: int = DEFAULT_STEPS, pre_sigmoid: bool = False, shift: bool = False) -> Rule:
    """``softmax`` -> ``[sigmoid] -> [x − max x] -> si_exp -> si_norm`` (SIT Eq. 1), keeping
    the output name."""
    attrs = si_exp_attrs(steps)

    def rewrite(graph: Graph, m: Match) -> str | None:
        f = m["softmax"]
        x, out = f.inputs[0], f.outputs[0]
        graph.remove_node(f.name, drop_outputs=False)
        saved = graph.values.pop(out)
        if pre_sigmoid:
            x = emit(graph, "sigmoid", [x], name=graph.fresh_name(f"{f.name}.sigmoid"), source=f.source).outputs[0]
        if shift:
            axis = int(f.attrs["axis"])
            top = emit(graph, "reduce_max", [x], name=graph.fresh_name(f"{f.name}.max"),
                       attrs={"axes": [axis], "keepdims": 1}, source=f.source).outputs[0]
            x = emit(graph, "sub", [x, top], name=graph.fresh_name(f"{f.name}.shift"), source=f.source).outputs[0]
        e = emit(graph, "si_exp", [x], name=graph.fresh_name(f"{f.name}.si_exp"), attrs=attrs, source=f.source)
        emit(graph, "si_norm", e.outputs, name=f.name, attrs={"axis": int(f.attrs["axis"]), "n_spike": 1.0},
             source=f.source, outputs=[saved.name])
        return None

    return Rule("spiking-softmax", Pat("softmax", name="softmax"), rewrite)


def convert_sit(graph: Graph, attrs_by_site: dict, steps: int = DEFAULT_STEPS, pre_sigmoid: bool = False,
                shift: bool = False) -> tuple[Graph, RewriteLog]:
    """ECMT's conversion of ``graph`` (per-step), then every softmax as a Spiking-Softmax."""
    from snnc.conversion.ecmt import convert_ecmt

    snn, log = convert_ecmt(graph, attrs_by_site)
    out, log = apply_rules(snn, [spiking_softmax_rule(steps, pre_sigmoid, shift)], log)
    reinfer(out)
    return out, log
