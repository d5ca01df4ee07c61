"""Host nodes inside a Lava run: a process with a CPU model that steps IR nodes.

:class:`HostOp` has ``in0..`` ports (the chip values its nodes read, in Lava's neuron
order) and ``out0..`` ports (the values the chip reads from it). Its model, each step,
``recv()``s every in-port, runs :class:`snnc.backends.loihi.host.HostProgram` (the IR
nodes, the simulator's numpy numerics) and ``send()``s every out-port: receive-then-send
adds no delay (DESIGN.md, "Whole-model runs"). After the last step it saves the values
the host reads after the run to an ``.npz``.

Lava's compiler reads a model's ports off its class and insists that the process has
every one, so each (inputs, outputs) count gets its own process class and model class
(:func:`host_op`, made once and kept in this module, where Lava looks for a process's
models). Import only after ``lava_compat.import_lava()``.
"""

from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class HostOp(AbstractProcess):
    """``program`` (a HostProgram) stepped every time step; ``ins``/``outs``: per port,
    ``(Lava shape, perm)`` (perm: Lava flat index -> snnc ``[N, *shape]`` flat index).
    Make one with :func:`host_op`, which picks the subclass with that many ports."""

    def __init__(self, *, program, ins: list, outs: list, steps: int, path: str, name: str) -> None:
        super().__init__(program=program, ins=ins, outs=outs, steps=int(steps), path=str(path), name=name)
        for i, (shape, _) in enumerate(ins):
            setattr(self, f"in{i}", InPort(shape=tuple(shape)))
        for i, (shape, _) in enumerate(outs):
            setattr(self, f"out{i}", OutPort(shape=tuple(shape)))


class PyHostOpModel(PyLoihiProcessModel):
    """Receive every in-port, step the program, send every out-port; save at the end."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.program = proc_params["program"]
        self.ins, self.outs = proc_params["ins"], proc_params["outs"]
        self.steps = proc_params["steps"]

    def run_spk(self) -> None:
        t = self.time_step - 1
        received = {}
        for i, ((_, perm), value) in enumerate(zip(self.ins, self.program.cluster.reads)):
            data = np.asarray(getattr(self, f"in{i}").recv()).reshape(-1)
            snnc = np.empty(perm.size, data.dtype)
            snnc[perm] = data
            received[value] = snnc
        sent = self.program.step(t, received)
        for i, ((shape, perm), arr) in enumerate(zip(self.outs, sent)):
            flat = np.asarray(arr).reshape(-1)
            ints = np.rint(flat).astype(np.int32)
            if not np.array_equal(ints, flat):
                raise ValueError(f"{self.program.cluster.sends[i]!r}: the host sends non-integer values to the chip")
            getattr(self, f"out{i}").send(ints[perm].reshape(shape))
        if t == self.steps - 1:
            saved = self.program.saved()
            np.savez(self.proc_params["path"], *saved.values(), names=np.array(list(saved), dtype=str))


def host_op(*, ins: list, outs: list, **kwargs) -> HostOp:
    """A :class:`HostOp` with ``len(ins)`` in-ports and ``len(outs)`` out-ports."""
    key = f"HostOp{len(ins)}x{len(outs)}"
    if key not in globals():
        proc = type(key, (HostOp,), {"__module__": __name__})
        ports = {f"in{i}": LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24) for i in range(len(ins))}
        ports.update({f"out{i}": LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24) for i in range(len(outs))})
        model = type(f"Py{key}Model", (PyHostOpModel,), {"__module__": __name__, **ports})
        model = implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(model)))
        globals()[key], globals()[model.__name__] = proc, model
    return globals()[key](ins=ins, outs=outs, **kwargs)
