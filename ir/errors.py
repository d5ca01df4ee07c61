"""Errors.

Anything a user can cause (a bad file, an unsupported op, a wrong shape, an existing
output) raises :class:`SnncError` with one line naming the thing and the fix; the CLI
prints it and exits with code 2. Internal bugs stay ordinary exceptions.
"""

from __future__ import annotations


class SnncError(Exception):
    """An error caused by the user's input; ``str(err)`` is the one-line message.

    ``problems`` holds one line per problem when several were found at once (every
    unsupported op of a model, say); the CLI prints each on its own line.
    """

    exit_code = 2

    def __init__(self, message: str, *, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])

    def lines(self) -> list[str]:
        return [str(self)] + [f"  {p}" for p in self.problems]


class UnsupportedError(SnncError):
    """The input is valid but uses something snnc cannot express or lower."""


class IRError(SnncError):
    """A graph breaks an IR invariant (a bad shape, an undefined value, a cycle…)."""
