"""The op families; importing this package registers every op in :mod:`snnc.ir.registry`."""

from snnc.ir.ops import conversion, elementwise, loihi, lookup, neurons, pool_norm, shape, sit, synaptic, time  # noqa: F401
