"""Lava processes snnc defines (import only after ``lava_compat.import_lava()``).

They live in a package of their own because Lava looks for a process's models by
importing every module beside it: here that is this folder only.
"""
