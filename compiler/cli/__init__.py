"""The ``snnc`` command line: one module per subcommand, each with ``add_parser``/``run``.

A :class:`~snnc.ir.errors.SnncError` (anything the user can cause) prints one line
``snnc: error: ...`` and exits 2. Any other exception is a bug in snnc: it prints one
line ``snnc: internal error: ...`` and exits :data:`INTERNAL_ERROR` (70, ``EX_SOFTWARE``
of sysexits.h), so scripts can tell a bad input from a bug; ``--debug`` shows the
traceback. SIGTERM unwinds like Ctrl-C (temporary outputs removed) and exits 143.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from snnc._version import __version__
from snnc.ir import limits
from snnc.ir.errors import SnncError

# subcommand -> module in snnc.cli (each defines add_parser(subparsers) and run(args))
INTERNAL_ERROR = 70   # sysexits.h EX_SOFTWARE: a bug in snnc, not in the user's input
COMMANDS = ["export", "convert", "evaluate", "show", "check", "opt", "simulate", "report", "compile", "verify", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnc", description="snnc: a deployment compiler for spiking neural networks.")
    parser.add_argument("--version", action="version", version=f"snnc {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    parser.add_argument("--max-memory", type=_size, metavar="SIZE",
                        help="refuse work needing more memory than SIZE (4G, 512M; default: the free memory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"snnc.cli.{name}")
        module.add_parser(sub)
    return parser


def _size(text: str) -> int:
    try:
        return limits.parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    limits.set_cap(args.max_memory)
    from snnc.files import Terminated, install_signal_handlers, restore_signal_handlers

    previous = install_signal_handlers()
    try:
        return int(args.run(args) or 0)
    except SnncError as err:
        for i, line in enumerate(err.lines()):
            print(f"snnc: error: {line}" if i == 0 else line, file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("snnc: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("snnc: terminated (SIGTERM); nothing was left half-written", file=sys.stderr)
        return 143
    except BrokenPipeError:
        return 0
    except Exception as err:  # noqa: BLE001 -- the last resort: a bug, never a user's mistake
        if args.debug:
            traceback.print_exc()
        print(f"snnc: internal error: {type(err).__name__}: {err} "
              "(please report this bug; run with --debug for the traceback)", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        restore_signal_handlers(previous)
