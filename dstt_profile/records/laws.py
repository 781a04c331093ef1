"""Scaling laws as records: what a report states about growth in t (computed by analysis/laws.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dstt_profile.poly import Point, Poly
from dstt_profile.records.figures import MemoryView

__all__ = ["Law", "Laws", "MemoryView", "PeakSegment", "Point", "Poly"]


@dataclass(frozen=True)
class Law:
    """A figure's exact polynomial in t over `first..last` (None: none of degree <= 4), with the points
    before `first` it leaves out (`apart`: t = 1 where it stands apart)."""

    name: str
    poly: Poly | None
    first: int
    last: int
    points: int  # how many points it was fitted through and checked on
    apart: tuple[Point, ...] = ()
    slope: float | None = None  # log-log slope between the first and the last point


@dataclass(frozen=True)
class PeakSegment:
    """A run of consecutive t where one stage holds the peak, and the peak's law over it."""
    stage: str
    law: Law


@dataclass(frozen=True)
class Laws:
    """Per stage its laws (`bytes`, `flops`, `peak_bytes`), the peak's law per segment, and where the t^2
    stage takes over (`bytes`, `flops`, `peak`: the first swept t from which it is the largest to the end,
    None where it is not by the last t; `bytes_projected`: the same by the exact laws over t = 1..4096)."""

    view: MemoryView
    stages: dict[str, dict[str, Law]]
    peaks: tuple[PeakSegment, ...]
    crossovers: dict[str, int | None] = field(default_factory=dict)
