"""Other model formats snnc reads and writes: NIR (:mod:`snnc.interop.nir`)."""
