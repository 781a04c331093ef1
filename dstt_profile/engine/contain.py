"""Running a user's code (a model file's import, its factory, its forward) so that it cannot end or
confuse the tool: while it runs, `sys.argv` is only the name of the user's program (so a module-level
`argparse` sees none of our options), what it prints goes to standard error (standard output carries
our results, JSON among them), and a `SystemExit` it raises (`sys.exit`, `exit()`, argparse) becomes
`UserExit`, an ordinary exception the caller turns into one line naming what the code did.

KeyboardInterrupt and the tool's stop signals pass through untouched.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class UserExit(Exception):
    """The user's code raised SystemExit; `str()` says what it did: 'called sys.exit(0)'."""

    def __init__(self, code: object) -> None:
        super().__init__(f"called sys.exit({'' if code is None else repr(code)})")
        self.code = code


@contextlib.contextmanager
def swapped_argv(program: str) -> Iterator[None]:
    """`sys.argv` is `[program]` within the block (the tool's own argv[0] where `program` is ''),
    and what it was afterwards."""
    saved = sys.argv
    sys.argv = [program or (saved[0] if saved else "")]
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def user_code(program: str) -> Iterator[None]:
    """Run the block as the user's code named `program` (a file path or a module name): argv swapped,
    standard output sent to standard error, SystemExit raised as UserExit."""
    try:
        with swapped_argv(program), contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as exc:
        raise UserExit(exc.code) from None
