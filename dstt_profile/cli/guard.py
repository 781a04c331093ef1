"""The guard around every command: stop signals as exceptions, libraries quiet, a failed stdout reported."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from types import FrameType

# Signals that end the command the way Ctrl-C does: cleanly, files removed, exit 128 + number.
STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)
QUIET_LOGGERS = ("torch", "fvcore", "iopath")
# Libraries whose Python warnings are silenced unless the user asked for warnings (-W or PYTHONWARNINGS).
QUIET_WARNINGS = r"(torch|matplotlib|fvcore|iopath|networkx|pandas|numpy|jinja2|PIL)(\.|$)"


class Stopped(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt, so no `except Exception` eats it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Stopped` (only possible in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_stopped) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Torch's loggers, the libraries' warnings (unless asked for) and Kineto's C++ status lines off."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # above every level Kineto prints
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            if not sys.warnoptions:
                warnings.filterwarnings("ignore", module=QUIET_WARNINGS)
            yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


def silence_stdout() -> None:
    """After standard output failed: point it at /dev/null, so the interpreter's flush at exit does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
