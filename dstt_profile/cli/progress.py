"""Progress of a sweep on stderr: a bar on a terminal; in a log, a line at most every `every` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from dstt_profile.records.runconfig import RunConfig

EVERY_S = 3.0


def sweep_progress(stream: TextIO, tty: bool, every: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> Callable[[int, int, RunConfig], None]:
    """A callback for `profile_many(progress=...)`."""
    started = clock()
    last = [started]  # when the last line was written

    def bar(done: int, total: int, run: RunConfig) -> None:
        filled = 30 * done // total
        stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} t={run.frames}   "
                     + "\n" * (done == total))
        stream.flush()

    def lines(done: int, total: int, run: RunConfig) -> None:
        now = clock()
        if done == total or now - last[0] >= every:
            last[0] = now
            stream.write(f"sweep: {done}/{total} runs done (t={run.frames}), {now - started:.1f} s\n")
            stream.flush()

    return bar if tty else lines
