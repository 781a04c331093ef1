"""Whether a run on real tensors can fit in this machine's memory (MemAvailable, and the room under RLIMIT_AS),
judged before it starts: refused in one line instead of failing minutes later inside an allocation."""

from __future__ import annotations

from dstt_profile.engine.hostmemory import available_bytes
from dstt_profile.errors import UsageError
from dstt_profile.units import fmt_bytes


def require_memory(need: int, what: str, available: tuple[int, str] | None = None) -> None:
    """UsageError when `need` bytes do not fit in what is available (nothing is said where unknown)."""
    room = available if available is not None else available_bytes()
    if room is None:
        return
    free, limit = room
    if need > free:
        raise UsageError(f"{what} needs about {fmt_bytes(need)} ({need:,} B: predicted peak + weights + input) and "
                         f"{limit} leaves {fmt_bytes(free)}: use a smaller t, batch or frame size")
