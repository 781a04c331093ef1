"""Scaling laws and crossovers read from a `ScalingRecord`: what the report leads a sweep with.

A law is the exact polynomial in t through every point of a series (scaling.py's fit: the lowest
degree that reproduces them all, with a point to spare). t = 1 may stand apart, as size-1 dimensions
change which ops copy: where no polynomial passes through it as well, the law is fitted from t = 2 and
t = 1's value is kept beside it. The peak is a maximum over ops whose stage changes with t, so it is
fitted per run of t where the same stage holds it, never across. Crossovers are of the stage a
profile names (`ProfileRecord.quadratic_stage`, DSTT's temporal attention); nothing here names one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dstt_profile.analysis.scaling import Curve, Point, Poly, fit_points
from dstt_profile.analysis.scaling import crossover as scaling_crossover
from dstt_profile.analysis.series import peaks
from dstt_profile.records.schema import ScalingRecord

FIELDS = ("bytes", "flops", "peak_bytes")  # a stage's series


@dataclass(frozen=True)
class Series:
    """One stage's figure against t."""

    stage: str
    t: list[int]
    values: list[int]


def stage_series(scaling: ScalingRecord, field: str) -> list[Series]:
    """Per-stage `field` ("bytes", "flops" or "peak_bytes") against t, in the record's (network) order."""
    return [Series(name, list(scaling.frames), list(getattr(s, field))) for name, s in scaling.stages.items()]


def fit(series: Series) -> Poly | None:
    """The exact polynomial through every point, or None where there is none of degree <= 4."""
    if len(set(series.t)) < 2:
        return None
    return fit_points(series.stage, list(zip(series.t, series.values, strict=True))).poly


def crossover(series: Sequence[Series], stage: str) -> int | None:
    """The crossover (scaling.crossover: strictly the largest, a tie does not count) of `stage`'s
    figure, whatever the series hold (bytes or FLOPs), over the swept range of whole t.

    Read from the points themselves where every whole t was swept; otherwise from the exact fits."""
    by_stage = {s.stage: s for s in series}
    if stage not in by_stage:
        return None
    grid = range(min(min(s.t) for s in series), max(max(s.t) for s in series) + 1)
    curves: dict[str, Curve] = {}
    for name, s in by_stage.items():
        known = dict(zip(s.t, s.values, strict=True))
        if all(t in known for t in grid):
            curves[name] = known.__getitem__
            continue
        poly = fit(s)
        if poly is None:
            return None
        curves[name] = poly
    return scaling_crossover(curves, grid, stage)


@dataclass(frozen=True)
class Law:
    """A figure's exact polynomial in t over `first..last` (None: none of degree <= 4 through the
    points), with the points before `first` that it leaves out (t = 1 where it stands apart)."""

    name: str
    poly: Poly | None
    first: int
    last: int
    points: int  # how many points it was fitted through and checked on
    apart: tuple[Point, ...] = ()


def law(name: str, points: Sequence[Point]) -> Law:
    """The law of `points`: through all of them, else through all but t = 1 (kept apart)."""
    pts = sorted(points)
    poly = fit_points(name, pts).poly if len(pts) > 1 else None
    apart: tuple[Point, ...] = ()
    if poly is None and len(pts) > 3 and pts[0][0] == 1:
        rest = fit_points(name, pts[1:]).poly
        if rest is not None:
            poly, apart, pts = rest, (pts[0],), pts[1:]
    if not pts:
        return Law(name, None, 0, 0, 0)
    return Law(name, poly, pts[0][0], pts[-1][0], len(pts), apart)


def stage_laws(scaling: ScalingRecord) -> dict[str, dict[str, Law]]:
    """Per stage, per field of `FIELDS`: its law."""
    t = scaling.frames
    return {
        name: {f: law(f"{name}.{f}", list(zip(t, getattr(s, f), strict=True))) for f in FIELDS}
        for name, s in scaling.stages.items()
    }


@dataclass(frozen=True)
class PeakSegment:
    """A run of consecutive t where one stage holds the peak, and the peak's law over it."""

    stage: str
    law: Law


def peak_laws(scaling: ScalingRecord, memory: str) -> list[PeakSegment]:
    """The peak (in the view `memory`) fitted separately over each run of t with the same peak stage."""
    values, stages = peaks(scaling, memory)
    runs: list[list[tuple[int, int, str]]] = []
    for point in zip(scaling.frames, values, stages, strict=True):
        if runs and runs[-1][-1][2] == point[2]:
            runs[-1].append(point)
        else:
            runs.append([point])
    return [PeakSegment(seg[0][2], law(f"peak ({seg[0][2]})", [(t, v) for t, v, _ in seg])) for seg in runs]


def peak_crossover(scaling: ScalingRecord, memory: str, stage: str) -> int | None:
    """Smallest swept t from which `stage` holds the peak at every swept t to the last; None where it
    does not hold it at the last."""
    _, stages = peaks(scaling, memory)
    answer = None
    for t, where in zip(reversed(scaling.frames), reversed(stages), strict=True):
        if where != stage:
            break
        answer = t
    return answer
