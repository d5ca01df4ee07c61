"""Graph -> Graph rewrites and the pass manager that runs them.

    from snnc.passes import run_pipeline, DEFAULT_PIPELINE
    graph = run_pipeline(graph, "fold-bn,fold-scale,dce", verify_each=True)

| pass              | function          | rewrites                                              |
|-------------------|-------------------|-------------------------------------------------------|
| ``remove-identity`` | :func:`remove_identity` | identity, dropout, no-op cast/reshape/transpose |
| ``fold-constants``  | :func:`fold_constants`  | ops on constants; reshape of reshape            |
| ``fold-bias``       | :func:`fold_bias`       | a per-channel constant added after conv/linear  |
| ``fold-bn``         | :func:`fold_batchnorm`  | BatchNorm after conv/conv_transpose/linear      |
| ``fold-scale``      | :func:`fold_scale`      | constant scale before an IF/LIF neuron          |
| ``dce``             | :func:`dce`             | nodes nothing reads                             |
| ``loihi-quantize``  | :func:`loihi_quantize`  | the graph into Loihi numerics (needs fold-bn)   |

Each pass takes ``(graph, log=None)``, never mutates ``graph`` and records what it did
in the :class:`PassLog`.
"""

from snnc.passes.manager import PASSES, Pass, PassLog, parse_pipeline, register, run_pipeline, timing_table
from snnc.passes.cleanup import dce, fold_constants, remove_identity
from snnc.passes.fold_bias import fold_bias
from snnc.passes.fold_bn import fold_batchnorm
from snnc.passes.fold_scale import fold_scale
from snnc.passes.loihi_quantize import loihi_quantize

#: what ``snnc compile`` runs before mapping: clean up first (so patterns are adjacent),
#: a bias add into its layer before BatchNorm (Linear-Add-BN then meets the linear),
#: fold BatchNorm before scales (a scale after Conv-BN then meets the conv), sweep last
DEFAULT_PIPELINE = "remove-identity,fold-constants,fold-bias,fold-bn,fold-scale,dce"

__all__ = ["DEFAULT_PIPELINE", "PASSES", "Pass", "PassLog", "dce", "fold_batchnorm", "fold_bias", "fold_constants",
           "fold_scale", "loihi_quantize", "parse_pipeline", "register", "remove_identity", "run_pipeline",
           "timing_table"]
