"""Scaling laws (exact polynomials in t, verified on every point) and crossovers from a `ScalingRecord`. t = 1
may stand apart (size-1 dimensions change which ops copy); the peak is fitted per run of t where one stage
holds it, never across."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

from dstt_profile.poly import Point, fit, loglog_slope
from dstt_profile.records.laws import Law, Laws, MemoryView, PeakSegment
from dstt_profile.records.schema import ScalingRecord

FIELDS = ("bytes", "flops", "peak_bytes")  # a stage's series
Curve = Callable[[int], int | Fraction]  # t -> a stage's figure
PROJECTED = 4096  # the largest t a crossover is projected to by the exact laws (the `scaling` subcommand)


def law(name: str, points: Sequence[Point]) -> Law:
    """The law of `points`: through all of them, else through all but t = 1 (kept apart)."""
    pts = sorted(points)
    poly = fit(pts) if len(pts) > 1 else None
    apart: tuple[Point, ...] = ()
    if poly is None and len(pts) > 3 and pts[0][0] == 1:
        rest = fit(pts[1:])
        if rest is not None:
            poly, apart, pts = rest, (pts[0],), pts[1:]
    if not pts:
        return Law(name, None, 0, 0, 0)
    return Law(name, poly, pts[0][0], pts[-1][0], len(pts), apart, loglog_slope(pts))


def crossover(curves: Mapping[str, Curve], ts: Sequence[int], stage: str) -> int | None:
    """The one definition of a crossover: the smallest t of `ts` (ascending) from which `stage`'s figure is
    strictly larger than every other stage's at every later t of `ts`, exactly; None when not at the last t."""
    mine = curves[stage]
    others = [curve for name, curve in curves.items() if name != stage]
    answer: int | None = None
    for t in reversed(ts):
        if not all(mine(t) > other(t) for other in others):
            break
        answer = t
    return answer


def series(scaling: ScalingRecord, name: str) -> dict[str, list[Point]]:
    return {stage: list(zip(scaling.frames, getattr(s, name), strict=True)) for stage, s in scaling.stages.items()}


def series_crossover(points: Mapping[str, Sequence[Point]], stage: str, laws: Mapping[str, Law] | None = None,
                     upto: int | None = None) -> int | None:
    """`crossover` of `stage` over every whole t from the first swept to the last (or to `upto`): read
    from the points where every such t was swept, else from each stage's law."""
    if stage not in points or not points[stage]:
        return None
    low = 1 if upto else min(t for pts in points.values() for t, _ in pts)
    high = upto or max(t for pts in points.values() for t, _ in pts)
    grid = range(low, high + 1)
    curves: dict[str, Curve] = {}
    for name, pts in points.items():
        known = dict(pts)
        if all(t in known for t in grid):
            curves[name] = known.__getitem__
            continue
        found = laws[name] if laws is not None else law(name, pts)
        if found.poly is None or found.apart:
            return None
        curves[name] = found.poly
    return crossover(curves, grid, stage)


def peak_laws(scaling: ScalingRecord, view: MemoryView) -> tuple[PeakSegment, ...]:
    values, stages = scaling.peaks(view)
    runs: list[list[tuple[int, int, str]]] = []
    for point in zip(scaling.frames, values, stages, strict=True):
        if runs and runs[-1][-1][2] == point[2]:
            runs[-1].append(point)
        else:
            runs.append([point])
    return tuple(PeakSegment(seg[0][2], law(f"peak ({seg[0][2]})", [(t, v) for t, v, _ in seg])) for seg in runs)


def peak_crossover(scaling: ScalingRecord, view: MemoryView, stage: str) -> int | None:
    """Smallest swept t from which `stage` holds the peak at every swept t to the last."""
    answer = None
    for t, where in zip(reversed(scaling.frames), reversed(scaling.peaks(view)[1]), strict=True):
        if where != stage:
            break
        answer = t
    return answer


def laws_of(scaling: ScalingRecord, view: MemoryView, quadratic: str = "") -> Laws:
    """Every law a report states, and the crossovers of the t^2 stage `quadratic` (none where "" or absent)."""
    stages = {
        stage: {f: law(f"{stage}.{f}", pts) for f, pts in ((f, series(scaling, f)[stage]) for f in FIELDS)}
        for stage in scaling.stages
    }
    crossovers: dict[str, int | None] = {}
    if quadratic and quadratic in scaling.stages and scaling.frames:
        for name in ("bytes", "flops"):
            crossovers[name] = series_crossover(series(scaling, name), quadratic, {s: stages[s][name] for s in stages})
        bytes_laws = {s: stages[s]["bytes"] for s in stages}
        crossovers["bytes_projected"] = series_crossover(series(scaling, "bytes"), quadratic, bytes_laws, PROJECTED)
        crossovers["peak"] = peak_crossover(scaling, view, quadratic)
    return Laws(view, stages, peak_laws(scaling, view), crossovers)
