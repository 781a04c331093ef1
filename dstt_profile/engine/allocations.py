"""The allocator's own account of a call, from torch.profiler's raw kineto events (`prof.events()` folds an
op's allocations into its totals and so loses their order against the releases)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

R = TypeVar("R")

BETWEEN_OPS = "(none)"


@dataclass(frozen=True)
class AllocEvent:
    """One allocator event: the innermost aten op running, signed bytes, live bytes after it."""

    op: str
    bytes: int
    live: int
    annotation: str  # innermost annotation with the asked-for prefix, "" where none was open
    time_ns: int = 0


@dataclass(frozen=True)
class Range:
    """A profiler range (an op or an annotation): start and end in ns, its name."""

    start: int
    end: int
    name: str


class _Index:
    """Ranges sorted by start, for innermost-range queries: nested ranges make a scan back from the last
    range that starts before a time stop at the first that still contains it (few ended earlier)."""

    def __init__(self, ranges: list[Range]) -> None:
        self.ranges = sorted(ranges, key=lambda r: (r.start, -r.end))
        self.starts = [r.start for r in self.ranges]

    def at(self, when: int) -> str:
        """The name of the latest-starting range that contains `when` (the innermost), "" where none does."""
        for i in range(bisect.bisect_right(self.starts, when) - 1, -1, -1):
            if self.ranges[i].end >= when:
                return self.ranges[i].name
        return ""


def allocation_events(prof: Any, annotation_prefix: str = "") -> tuple[list[AllocEvent], list[Range]]:
    """A finished profile's allocator events, in time order, and its `annotation_prefix` ranges, by start."""
    results = prof.profiler.kineto_results if prof.profiler is not None else None
    if results is None:
        return [], []
    memory: list[tuple[int, int]] = []
    ops: list[Range] = []
    notes: list[Range] = []
    for e in results.events():
        name = e.name()
        if name == "[memory]":
            memory.append((e.start_ns(), int(e.nbytes())))
        elif name.startswith("aten::"):
            ops.append(Range(e.start_ns(), e.start_ns() + e.duration_ns(), name))
        elif annotation_prefix and name.startswith(annotation_prefix):
            notes.append(Range(e.start_ns(), e.start_ns() + e.duration_ns(), name))
    memory.sort(key=lambda pair: pair[0])
    op_index, note_index = _Index(ops), _Index(notes)
    out: list[AllocEvent] = []
    live = 0
    for when, nbytes in memory:
        live += nbytes
        out.append(AllocEvent(op_index.at(when) or BETWEEN_OPS, nbytes, live, note_index.at(when), when))
    return out, note_index.ranges


@dataclass(frozen=True)
class AllocationLog:
    events: list[AllocEvent]
    ranges: list[Range]  # annotation ranges with the asked-for prefix


def record_allocations(call: Callable[[], R], annotation_prefix: str = "") -> tuple[AllocationLog, R]:
    """Run `call` under the CPU profiler's memory events; returns its allocator log and its result."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = call()
    events, ranges = allocation_events(prof, annotation_prefix)
    return AllocationLog(events, ranges), result


def net_peak(events: list[AllocEvent]) -> int:
    """The highest running sum of signed allocation sizes (0 when nothing was allocated)."""
    return max(0, max((e.live for e in events), default=0))


def annotate(name: str) -> torch.autograd.profiler.record_function:
    """A profiler range named `name` (no cost when no profiler is running)."""
    return torch.autograd.profiler.record_function(name)
