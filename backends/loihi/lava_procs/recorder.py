"""Output monitoring: a Lava process that records what it receives each step.

Lava's own sinks (``lava.proc.io.sink.RingBuffer``) hold their buffer in a Var, and
reading a Var back (``Var.get``) moves it one element per message: seconds for a few
hundred thousand spikes. :class:`Recorder` keeps its buffer in the process model and
writes it to a ``.npy`` file at the last step, which the host loads after the run.

Import this module only after :func:`snnc.backends.loihi.lava_compat.import_lava`.
"""

from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class Recorder(AbstractProcess):
    """Receives an int32 vector of ``shape`` every step for ``steps`` steps and saves the
    ``(*shape, steps)`` record to ``path`` after the last one."""

    def __init__(self, *, shape: tuple[int, ...], steps: int, path: str) -> None:
        super().__init__(shape=tuple(shape), steps=int(steps), path=str(path))
        self.a_in = InPort(shape=tuple(shape))


@implements(proc=Recorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRecorderModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.steps = proc_params["steps"]
        self.record = np.zeros((*proc_params["shape"], self.steps), np.int32)

    def run_spk(self) -> None:
        step = self.time_step - 1
        data = self.a_in.recv()
        if step < self.steps:
            self.record[..., step] = data
        if step == self.steps - 1:
            np.save(self.proc_params["path"], self.record)
