"""``snnc opt``: not built yet (see the open issues)."""

from __future__ import annotations

from snnc.ir.errors import SnncError


def add_parser(sub) -> None:
    p = sub.add_parser("opt", help="(not built yet)")
    p.add_argument("model", nargs="?")
    p.set_defaults(run=run)


def run(args) -> int:
    raise SnncError("snnc opt is not built yet")
