"""The spiking IR: graph, values, spike kinds, op registry, printer, (de)serialiser.

This package imports nothing of ``snnc`` outside ``snnc.ir``.
"""
