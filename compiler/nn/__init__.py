"""Spiking network modules for PyTorch, exportable to the snnc ONNX dialect.

Tensors carry a leading time axis: ``[T, N, ...]`` (SpikingJelly's multi-step mode).
"""

from .conversion import CumMean, Delta, ExpectationCompensation, MultiThreshold, SpikingMatMul
from .sit import SIExp, SINorm, SpikingSoftmax
from .sit_fit import fit_si_exp
from .encoding import MeanDecoder, RepeatEncoder, SeqToBatch
from .neurons import IF, LIF, SpikingNeuron

__all__ = [
    "IF", "LIF", "CumMean", "Delta", "ExpectationCompensation", "MeanDecoder", "MultiThreshold",
    "RepeatEncoder", "SeqToBatch", "SIExp", "SINorm", "SpikingMatMul", "SpikingNeuron",
    "SpikingSoftmax", "fit_si_exp",
]
