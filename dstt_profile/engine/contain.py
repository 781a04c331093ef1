"""Running a user's code so that it cannot end or confuse the tool: its output goes to standard error (ours
carries results), its `SystemExit` becomes `UserExit`; KeyboardInterrupt and stop signals pass through."""

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
def user_code(program: str) -> Iterator[None]:
    """Run the block as the user's code named `program` (a file path or a module name; '': the tool's own
    argv[0]): `sys.argv` is `[program]`, standard output goes to standard error, SystemExit is UserExit."""
    saved = sys.argv
    sys.argv = [program or (saved[0] if saved else "")]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except SystemExit as exc:
        raise UserExit(exc.code) from None
    finally:
        sys.argv = saved
