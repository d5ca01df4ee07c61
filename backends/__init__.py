"""Backends: the reference simulator, the Lava / Loihi lowering, energy models.

Backends import ``snnc.ir`` only.
"""
