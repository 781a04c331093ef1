"""Errors the toolkit raises on purpose. The command line turns `UsageError` into one line and exit 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user: a malformed option, an impossible size, an unreadable file. `field` names the run
    setting at fault ("batch", "res", "model_args.heads"; "" where none), for each edge to name it its own way."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class TraceError(RuntimeError):
    """The model failed while being traced; the message names the module that was running."""


class SchemaError(ValueError):
    """A saved record does not match the record types; `where` names the field, as runs[0].peak.bytes."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem
