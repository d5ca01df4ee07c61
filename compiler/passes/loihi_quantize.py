"""``loihi-quantize``: the float spiking graph in Loihi 2 fixed point (the ``loihi`` op family).

    # before -> after (snnc.backends.loihi.quantize has every rule and the arithmetic)
    %a = conv(%s); %y = lif(%a)    ->   %a = loihi_conv(%s); %y = loihi_lif(%a)

The one place Loihi numerics enter a program: ``snnc simulate --numerics loihi``,
``snnc compile`` and ``snnc verify`` run this pass and hand the simulator (or Lava) the
graph it returns, so the simulator runs whatever graph it is given and knows nothing of
Loihi. BatchNorm must be folded into the synapses first (a Loihi synapse has no
normalisation), and a bias exported as a separate Add (PyTorch's Linear on ``[T, N, F]``)
must be the synapse's own (it becomes the neuron's Loihi bias), so ``fold-bias`` and
``fold-bn`` are its declared prerequisites: a pipeline naming ``loihi-quantize`` without
them earlier gets them just before it.

Options (``run_pipeline(..., options={"loihi-quantize": {...}})``): ``calibration``
(graph input -> samples in run-time layout: the ranges of the float values synapses
read), ``input_bits`` (the graded-spike width of those inputs) and ``lag_align`` (False: the
rule that delays a multi-input op's earlier inputs to one lag off, for comparisons), ``time_origin``
(False: ECMT's clocked host ops in the run count the lag's empty steps too) and ``reader_exp``
(False: no right shift on a Dense reading graded spikes), ``fine_thresholds`` (False: the
coarse multi-threshold ladders, 5% and 16 encoder levels per θ). The per-layer table
is in ``q.meta["loihi"]``; the pass log counts the layers put on chip and lists every node
left on the host with the reason.
"""

from __future__ import annotations

import numpy as np

from snnc.ir.errors import SnncError
from snnc.ir.graph import Graph
from snnc.ir.ops.loihi import PROGRAM_META
from snnc.passes.manager import PassLog, register


@register("loihi-quantize", requires=("fold-bias", "fold-bn"))
def loihi_quantize(graph: Graph, log: PassLog | None = None, *,
                   calibration: dict[str, np.ndarray] | None = None, input_bits: int | None = None,
                   lag_align: bool = True, time_origin: bool = True, reader_exp: bool = True,
                   fine_thresholds: bool = True) -> Graph:
    """Quantise to Loihi 2 numerics (the loihi op family), calibrated on input samples."""
    try:
        from snnc.backends.loihi.quantize import quantize
    except ImportError as err:
        raise SnncError("numerics 'loihi' needs snnc.backends.loihi.quantize, which this installation "
                        f"lacks ({err}); use --numerics float") from err
    log = log if log is not None else PassLog("loihi-quantize")
    q = quantize(graph, calibration=calibration, input_bits=input_bits, lag_align=lag_align,
                 time_origin=time_origin, reader_exp=reader_exp,
                 fine_thresholds=fine_thresholds)
    meta = q.meta[PROGRAM_META]
    log.add("on_chip", len(meta["layers"]))
    log.counts.setdefault("host", 0)
    for entry in meta["host"]:
        log.leave(entry["node"], entry["reason"], key="host")
    return q
