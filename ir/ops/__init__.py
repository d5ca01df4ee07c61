"""The op families; importing this package registers every op in :mod:`snnc.ir.registry`."""

from snnc.ir.ops import (conversion, elementwise, frameworks, loihi, loihi_mt, lookup, neurons, pool_norm,  # noqa: F401,E501
                          shape, sit, synaptic, time)
