"""ECMT's multi-threshold neuron as a Lava process with a fixed-point model.

On Loihi 2 this neuron is a *microcoded* neuron: Loihi 2 programs its neuron models in
a small instruction set per core and sends graded spikes (an integer payload per spike),
neither of which Loihi 1 has. lava-nc 0.10.0 ships no such neuron, so this process stands
for it: :class:`PyMultiThresholdModelFixed` (tag ``fixed_pt``, like Lava's
``PyLifModelBitAcc``) is the integer program such microcode runs, step for step, on the
CPU backend of Lava's Loihi 2 simulator. Per step (``snnc.ir.ops.loihi_mt``, ECMT
Section 4.3):

    v = clip(v + a_in + bias, ±(2²³ − 1))        (nothing before step ``start``: v = 0)
    s = +λ⁺_k, the largest k with  v ≥ λ⁺_k − ⌊θ⁺/2⌋;  else −λ⁻_k with −v ≥ λ⁻_k − ⌊θ⁻/2⌋;  else 0
    v = v − s;   s_out = s / unit                  (λ_k = θ·gap^k, k < levels)

The thresholds are per neuron (θ per channel in the float neuron), in the neuron's integer
units. ``s_out`` is an int32 graded spike; the synapses that read it are made with
``num_message_bits`` = the payload's width. Written from the equations above, not from
snnc's numpy op: ``tests/test_loihi_multi_threshold.py`` checks both against a third,
test-local reference.
"""

from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

V_MAX = (1 << 23) - 1


class MultiThreshold(AbstractProcess):
    """``shape`` neurons; ``theta_pos``/``theta_neg``/``bias`` per neuron (integers,
    broadcast to ``shape``); ``levels`` per sign, ladder ratio ``gap``, payload ``unit``;
    idle (v = 0, no spikes) for the first ``start`` steps."""

    def __init__(self, *, shape: tuple, theta_pos, theta_neg, bias=0, levels: int, gap: int = 2, unit: int = 1,
                 start: int = 0, name: str | None = None) -> None:
        super().__init__(shape=shape, name=name)
        full = lambda x: np.broadcast_to(np.asarray(x, np.int32), shape).copy()  # noqa: E731
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.v = Var(shape=shape, init=np.zeros(shape, np.int32))
        self.theta_pos = Var(shape=shape, init=full(theta_pos))
        self.theta_neg = Var(shape=shape, init=full(theta_neg))
        self.bias = Var(shape=shape, init=full(bias))
        self.levels = Var(shape=(1,), init=int(levels))
        self.gap = Var(shape=(1,), init=int(gap))
        self.unit = Var(shape=(1,), init=int(unit))
        self.t_start = Var(shape=(1,), init=int(start))


@implements(proc=MultiThreshold, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMultiThresholdModelFixed(PyLoihiProcessModel):
    """The microcode of the neuron, in integers (module doc)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    theta_pos: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    theta_neg: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    levels: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    gap: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    unit: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    t_start: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def run_spk(self) -> None:
        a = self.a_in.recv().astype(np.int64)
        if self.time_step <= int(self.t_start[0]):          # time_step is 1-based
            self.v[:] = 0
            self.s_out.send(np.zeros(self.s_out.shape, np.int32))
            return
        v = np.clip(self.v.astype(np.int64) + a + self.bias, -V_MAX, V_MAX)
        fired = np.zeros_like(v)
        # from the lowest level up, each reached level overwrites the last: the highest wins;
        # the positive side is looked at last (a neuron cannot reach both)
        for theta, sign in ((self.theta_neg.astype(np.int64), -1), (self.theta_pos.astype(np.int64), 1)):
            level = theta.copy()
            for _ in range(int(self.levels[0])):
                reached = sign * v >= level - theta // 2
                fired = np.where(reached, sign * level, fired)
                level = level * int(self.gap[0])
        self.v[:] = (v - fired).astype(np.int32)
        self.s_out.send((fired // int(self.unit[0])).astype(np.int32))
