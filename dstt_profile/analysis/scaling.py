"""Scaling laws in t: exact polynomial fits of a sweep's figures, log-log slopes, and crossovers.

A fit is exact: rational Newton divided differences through the first `degree + 1` points, the lowest
degree that then reproduces *every* point of the sweep exactly (at least one point is left over to
verify it). Nothing is estimated; a figure that is no polynomial of low degree says so.

The peak is piecewise in t (the decoder holds it at small t, a temporal block from some t on), so the
peak is fitted per segment of constant peak stage, never across segments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord

Point = tuple[int, int]  # (t, value)


@dataclass(frozen=True)
class Poly:
    """An exact polynomial in t; `coefficients[i]` multiplies t^i."""

    coefficients: tuple[Fraction, ...]

    @property
    def degree(self) -> int:
        return len(self.coefficients) - 1

    def __call__(self, t: int | Fraction) -> Fraction:
        total = Fraction(0)
        for c in reversed(self.coefficients):
            total = total * t + c
        return total

    def text(self, var: str = "t") -> str:
        """Highest power first, every power shown: `518400*t^2 + 0*t + 0`."""
        parts = []
        for power in range(self.degree, -1, -1):
            coef = self.coefficients[power]
            name = {0: "", 1: f"*{var}"}.get(power, f"*{var}^{power}")
            parts.append(f"{coef}{name}")
        return " + ".join(parts)


@dataclass(frozen=True)
class Fit:
    """A figure over t: its exact polynomial (None when no low-degree polynomial reproduces every point)."""

    name: str
    points: tuple[Point, ...]
    poly: Poly | None
    slope: float | None  # log-log slope between the first and last point
    var: str = "t"  # the variable: t, or n for a resolution sweep

    @property
    def degree(self) -> int | None:
        return self.poly.degree if self.poly else None

    def text(self) -> str:
        law = self.poly.text(self.var) if self.poly else "no exact polynomial"
        slope = f"{self.slope:.3f}" if self.slope is not None else "n/a"
        xs = ",".join(str(x) for x, _ in self.points)
        return f"{self.name}: {law} (degree {self.degree}, log-log slope {slope}, {self.var} in {xs})"


def _newton(points: Sequence[Point]) -> Poly:
    """The interpolating polynomial through `points`, in monomial form, exactly."""
    xs = [Fraction(t) for t, _ in points]
    table = [Fraction(v) for _, v in points]
    divided = [table[0]]
    for level in range(1, len(points)):
        table = [(table[i + 1] - table[i]) / (xs[i + level] - xs[i]) for i in range(len(table) - 1)]
        divided.append(table[0])
    coeffs = [Fraction(0)] * len(points)
    basis = [Fraction(1)]  # prod (t - x_j), monomial coefficients
    for k, dk in enumerate(divided):
        for i, b in enumerate(basis):
            coeffs[i] += dk * b
        basis = _times_linear(basis, xs[k])
    return Poly(tuple(coeffs))


def _times_linear(poly: list[Fraction], root: Fraction) -> list[Fraction]:
    """poly(t) * (t - root)."""
    out = [Fraction(0)] * (len(poly) + 1)
    for i, c in enumerate(poly):
        out[i + 1] += c
        out[i] -= root * c
    return out


def fit_poly(points: Sequence[Point], max_degree: int = 4) -> Poly | None:
    """The lowest-degree polynomial through the first points that reproduces every point exactly."""
    pts = sorted(set(points))
    if len({t for t, _ in pts}) != len(pts):
        raise ValueError("two different values at the same t")
    for degree in range(0, min(max_degree, len(pts) - 2) + 1):
        poly = _newton(pts[: degree + 1])
        if all(poly(t) == v for t, v in pts):
            return poly
    return None


def loglog_slope(points: Sequence[Point]) -> float | None:
    pts = sorted(p for p in points if p[0] > 0 and p[1] > 0)
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return None
    (t0, v0), (t1, v1) = pts[0], pts[-1]
    return math.log(v1 / v0) / math.log(t1 / t0)


def fit_points(name: str, points: Sequence[Point], var: str = "t") -> Fit:
    pts = tuple(sorted(points))
    return Fit(name, pts, fit_poly(pts), loglog_slope(pts), var)


def _series(runs: Sequence[RunRecord], value: Callable[[RunRecord], int]) -> list[Point]:
    return [(r.frames, value(r)) for r in runs]


def _sorted_runs(result: Result) -> list[RunRecord]:
    runs = sorted(result.runs, key=lambda r: r.frames)
    if len({r.frames for r in runs}) != len(runs):
        raise ValueError("a sweep to fit needs one run per t")
    return runs


def stage_fits(result: Result) -> dict[str, dict[str, Fit]]:
    """Per stage: elements and FLOPs of the headline tensor as exact polynomials in t."""
    runs = _sorted_runs(result)
    out: dict[str, dict[str, Fit]] = {}
    for stage in runs[0].stages:
        out[stage] = {
            kind: fit_points(
                f"{stage}.{kind}", [(r.frames, int(getattr(r.stages[stage], kind))) for r in runs]
            )
            for kind in ("elements", "flops")
        }
    return out


@dataclass(frozen=True)
class PeakSegment:
    """A run of consecutive sweep points where the same stage holds the peak, and its fit."""

    stage: str
    first: int
    last: int
    fit: Fit


def peak_segments(result: Result) -> list[PeakSegment]:
    """The peak fitted separately where its stage is constant (a segment needs 3+ points to be fitted)."""
    segments: list[list[RunRecord]] = []
    for run in _sorted_runs(result):
        if segments and segments[-1][-1].peak_view.stage == run.peak_view.stage:
            segments[-1].append(run)
        else:
            segments.append([run])
    out = []
    for seg in segments:
        stage = seg[0].peak_view.stage
        fit = fit_points(f"peak ({stage})", _series(seg, lambda r: r.peak_view.bytes))
        out.append(PeakSegment(stage, seg[0].frames, seg[-1].frames, fit))
    return out


Curve = Callable[[int], int | Fraction]  # t -> a stage's figure


def crossover(curves: Mapping[str, Curve], ts: Sequence[int], stage: str) -> int | None:
    """The one definition of a crossover: the smallest t of `ts` (ascending) from which `stage`'s
    figure is the largest of all the stages in `curves`, there and at every later t of `ts`; None
    when it is not the largest at the last t. Figures are compared exactly (ints or Fractions).

    Tie rule: the largest means strictly larger than every other stage's figure. Where `stage`'s
    figure only equals the largest other one it is not the largest, so a tie at a t puts the
    crossover after that t, and a tie at the last t of `ts` means no crossover (None)."""
    mine = curves[stage]
    others = [curve for name, curve in curves.items() if name != stage]
    answer: int | None = None
    for t in reversed(ts):
        if all(mine(t) > other(t) for other in others):
            answer = t
        else:
            break
    return answer


def headline_crossover(fits: dict[str, dict[str, Fit]], stage: str, limit: int = 4096) -> int | None:
    """The crossover (`crossover`) of `stage`'s headline tensor over t = 1..`limit`, from the exact
    fits of the elements (the same t for bytes at any dtype, as every headline shares the dtype)."""
    polys = {name: f["elements"].poly for name, f in fits.items()}
    if any(p is None for p in polys.values()):
        return None
    return crossover({name: p for name, p in polys.items() if p is not None}, range(1, limit + 1), stage)


def peak_in_quadratic(run: RunRecord) -> bool:
    """Whether `run`'s peak (in its memory view) is inside the stage its profile says grows with t^2."""
    stage = run.profile.quadratic_stage
    return bool(stage) and run.peak_view.stage == stage


def search_first(predicate: Callable[[int], bool], limit: int = 1 << 16) -> int | None:
    """Smallest t >= 1 with predicate(t), assuming it stays true from there on: exponential steps, then
    binary search. None when it is still false at `limit`."""
    lo, hi = 0, 1  # predicate false at lo (0: by convention), probe hi
    while not predicate(hi):
        lo, hi = hi, hi * 2
        if lo >= limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if predicate(mid):
            hi = mid
        else:
            lo = mid
    return hi


def peak_crossover(base: RunConfig, profile: Callable[[RunConfig], RunRecord] | None = None) -> int | None:
    """Smallest t from which the peak is set inside the stage the profile says grows with t^2 (DSTT's
    temporal blocks), by search over fake-tensor runs; None where there is no such stage or t."""
    run = profile or _profile
    return search_first(lambda t: peak_in_quadratic(run(base.replace(frames=t))))


def _profile(run: RunConfig) -> RunRecord:
    from dstt_profile.api import profile_run

    return profile_run(run, keep_ops=False)


def crossovers_by_dtype(
    base: RunConfig, dtypes: Sequence[str], fits: dict[str, dict[str, Fit]], stage: str
) -> dict[str, dict[str, Any]]:
    """Both crossovers of `stage` per dtype: headline (from the exact fits) and peak (searched over runs)."""
    headline = headline_crossover(fits, stage)
    return {dt: {"headline": headline, "peak": peak_crossover(base.replace(dtype=dt))} for dt in dtypes}


def report(result: Result) -> str:
    """Plain-text scaling report of a sweep."""
    fits = stage_fits(result)
    lines = [f"Scaling over t ({_config_text(result.runs[0])}), exact fits verified on every point:"]
    for kinds in fits.values():
        for fit in kinds.values():
            lines.append("  " + fit.text())
    lines.append("Peak, fitted only where the stage holding it is constant:")
    for seg in peak_segments(result):
        lines.append(f"  t={seg.first}..{seg.last} in {seg.stage}: {seg.fit.text()}")
    profile = result.runs[0].profile
    quadratic = profile.quadratic_stage  # the stage that grows with t^2, by the profile
    if quadratic in fits:
        crossing = headline_crossover(fits, quadratic)
        what = profile.quadratic_headline or f"the {quadratic} headline tensor"
        lines.append(f"{what[:1].upper()}{what[1:]} is the largest headline tensor from t = {crossing}")
    return "\n".join(lines)


def _config_text(run: RunRecord) -> str:
    c = run.config
    words = [f"{c['height']}x{c['width']}", c["dtype"], str(run.arg("attention")), f"b={c['batch']}"]
    return " ".join(w for w in words if w)


def tokens_of(run: RunRecord) -> int:
    """n, tokens per frame, of a run's configuration (grows with H*W: n = (H/12)*(W/12) by default)."""
    from dstt_profile.profiles.dstt.args import config_of

    return int(config_of(RunConfig.from_dict(run.config)).tokens)


def resolution_fits(result: Result) -> dict[str, Fit]:
    """Per stage: headline elements as exact polynomials in n (runs at one t, several resolutions).
    The temporal attention matrix is quadratic in n, so in H*W; every other stage is linear."""
    runs = sorted(result.runs, key=tokens_of)
    if len({r.frames for r in runs}) != 1 or len({tokens_of(r) for r in runs}) != len(runs):
        raise ValueError("a resolution sweep needs one t and one run per token count n")
    return {
        stage: fit_points(f"{stage}.elements", [(tokens_of(r), r.stages[stage].elements) for r in runs], "n")
        for stage in runs[0].stages
    }
