"""Exact polynomials in t, behind derivation, a sweep's summaries and the scaling laws: `Quadratics`, many
integer quadratics through their values at three consecutive t (Newton's form, in integers), and `fit`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

Point = tuple[int, int]  # (t, value)


class Quadratics:
    """p_i(t) = v0_i + u*d1_i + u(u-1)/2 * d2_i with u = t - first: through each position's values at
    t = first, first+1, first+2 (d1 = v1 - v0, d2 = v2 - 2*v1 + v0), exactly."""

    def __init__(self, first: int, values: Sequence[Sequence[int]]) -> None:
        v0, v1, v2 = (list(v) for v in values)
        self.first = first
        self.v0 = v0
        self.d1 = [b - a for a, b in zip(v0, v1, strict=True)]
        self.d2 = [c - 2 * b + a for a, b, c in zip(v0, v1, v2, strict=True)]
        self._floats: tuple[np.ndarray[Any, np.dtype[np.float64]], ...] | None = None

    def exact(self, i: int, t: int) -> int:
        u = t - self.first
        return self.v0[i] + u * self.d1[i] + (u * (u - 1) // 2) * self.d2[i]

    def at(self, t: int) -> list[int]:
        u = t - self.first
        half = u * (u - 1) // 2
        return [a + u * b + half * c for a, b, c in zip(self.v0, self.d1, self.d2)]

    def approx(self, t: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Every value at t in floating point, to pick candidates fast (`exact` decides)."""
        if self._floats is None:
            self._floats = tuple(np.array(v, dtype=np.float64) for v in (self.v0, self.d1, self.d2))
        f0, f1, f2 = self._floats
        u = float(t - self.first)
        return f0 + u * f1 + (u * (u - 1.0) / 2.0) * f2


@dataclass(frozen=True)
class Poly:
    """An exact polynomial; `coefficients[i]` multiplies t^i."""

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
        names = {0: "", 1: f"*{var}"}
        return " + ".join(f"{self.coefficients[p]}{names.get(p, f'*{var}^{p}')}" for p in range(self.degree, -1, -1))


def through(points: Sequence[Point]) -> Poly:
    """The interpolating polynomial through `points` (distinct t), exactly (Newton's divided differences)."""
    xs = [Fraction(t) for t, _ in points]
    table = [Fraction(v) for _, v in points]
    coeffs = [Fraction(0)] * len(points)
    basis = [Fraction(1)]  # prod (t - x_j) so far, monomial coefficients
    for k in range(len(points)):
        for i, b in enumerate(basis):
            coeffs[i] += table[0] * b
        table = [(table[i + 1] - table[i]) / (xs[i + k + 1] - xs[i]) for i in range(len(table) - 1)]
        basis = [Fraction(0), *basis]
        for i in range(len(basis) - 1):
            basis[i] -= xs[k] * basis[i + 1]
    return Poly(tuple(coeffs))


def fit(points: Sequence[Point], max_degree: int = 4) -> Poly | None:
    """The lowest-degree polynomial through the first points that reproduces every point, with at least one
    point left over to verify it; None where there is none of degree <= `max_degree`."""
    pts = sorted(set(points))
    if len({t for t, _ in pts}) != len(pts):
        raise ValueError("two different values at the same t")
    for degree in range(0, min(max_degree, len(pts) - 2) + 1):
        poly = through(pts[: degree + 1])
        if all(poly(t) == v for t, v in pts):
            return poly
    return None


def loglog_slope(points: Sequence[Point]) -> float | None:
    """The log-log slope between the first and the last point with positive t and value."""
    pts = sorted(p for p in points if p[0] > 0 and p[1] > 0)
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return None
    (t0, v0), (t1, v1) = pts[0], pts[-1]
    return math.log(v1 / v0) / math.log(t1 / t0)
