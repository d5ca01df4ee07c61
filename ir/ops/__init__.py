"""The op families; importing this package registers every op in :mod:`snnc.ir.registry`."""

from snnc.ir.ops import (conversion, elementwise, frameworks, loihi, lookup, neurons, pool_norm, shape,  # noqa: F401
                          sit, synaptic, time)
