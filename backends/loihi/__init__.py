"""Loihi 2 through Lava: quantise to Loihi numerics, plan the chip, lower to Lava, run.

    from snnc.backends.loihi.quantize import quantize       # float graph -> loihi op family
                                                            # (the compiler runs it as the loihi-quantize pass)
    from snnc.backends.loihi.run import run_loihi           # engine="sim" (numpy) or "lava"

Lava itself is imported only through :mod:`snnc.backends.loihi.lava_compat`. See
``docs/loihi.md``.
"""
