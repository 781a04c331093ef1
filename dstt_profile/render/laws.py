"""The scaling laws and crossovers as text for the report: exact polynomials in t with their integer
coefficients written out (`4,147,200 t^2 + 13,639,680 t`), read from a `ScalingRecord` (laws.py)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from dstt_profile.analysis.laws import Law, PeakSegment, crossover, peak_crossover, stage_series
from dstt_profile.analysis.scaling import Poly
from dstt_profile.records.schema import ProfileRecord, ScalingRecord


def _number(value: Fraction) -> str:
    """1234567 -> 1,234,567; 3/2 -> 3/2."""
    if value.denominator == 1:
        return f"{value.numerator:,}"
    return f"{value.numerator:,}/{value.denominator:,}"


def poly_text(poly: Poly, var: str = "t") -> str:
    """Highest power first, zero terms left out, exact: `4,147,200 t^2 + 13,639,680 t`, `0` for zero."""
    terms: list[str] = []
    for power in range(poly.degree, -1, -1):
        coef = poly.coefficients[power]
        if coef == 0:
            continue
        size = abs(coef)
        name = {0: "", 1: var}.get(power, f"{var}^{power}")
        text = name if size == 1 and name else f"{_number(size)} {name}".rstrip()
        if not terms:
            terms.append(("-" if coef < 0 else "") + text)
        else:
            terms.append(("- " if coef < 0 else "+ ") + text)
    return " ".join(terms) or "0"


def law_text(law: Law) -> str:
    """The law, where it holds, and what it leaves apart: `2,073,600 t^2` or, where t = 1 stands apart,
    `19,906,560 t + 147,456 (t >= 2; t = 1: 19,906,560)`."""
    if law.poly is None:
        return f"no exact polynomial of degree <= 4 through the {law.points} points"
    text = poly_text(law.poly)
    if law.apart:
        text += f" (t >= {law.first}; " + "; ".join(f"t = {t}: {v:,}" for t, v in law.apart) + ")"
    return text


def stage_rows(stage_laws: dict[str, dict[str, Law]]) -> list[dict[str, str]]:
    """One row per stage: the laws of its headline bytes, its FLOPs and its peak (laws.stage_laws)."""
    return [
        {"stage": name, "bytes": law_text(laws["bytes"]), "flops": law_text(laws["flops"]),
         "peak": law_text(laws["peak_bytes"])}
        for name, laws in stage_laws.items()
    ]


def any_apart(stage_laws: dict[str, dict[str, Law]], peaks: Sequence[PeakSegment]) -> bool:
    """Whether any law shown leaves t = 1 apart (the report then says why)."""
    shown = [law for laws in stage_laws.values() for law in laws.values()] + [seg.law for seg in peaks]
    return any(law.apart for law in shown)


def peak_rows(peaks: Sequence[PeakSegment]) -> list[dict[str, str]]:
    """The peak's law over each run of t where one stage holds it (laws.peak_laws)."""
    rows = []
    for seg in peaks:
        law = seg.law
        first = law.apart[0][0] if law.apart else law.first
        span = f"t = {first}" if first == law.last else f"t = {first}..{law.last}"
        rows.append({"span": span, "stage": seg.stage, "law": law_text(law)})
    return rows


def crossover_lines(scaling: ScalingRecord, memory: str, profile: ProfileRecord) -> list[str]:
    """Where the stage that grows with t^2 (the profile's; DSTT's temporal attention) takes over: its
    headline tensor, its FLOPs, the peak; each over the swept t only. None where the profile names
    no such stage."""
    stage = profile.quadratic_stage
    if not stage or stage not in scaling.stages or not scaling.frames:
        return []
    name = profile.quadratic_name
    last = scaling.frames[-1]

    def said(t: int | None, what: str) -> str:
        if t is None:
            return f"{what}: not by t = {last} (the largest t here)"
        if t == scaling.frames[0]:
            return f"{what}: at every t here (from t = {t}, the smallest)"
        return f"{what}: from t = {t}"

    view = "allocator" if memory == "allocator" else "tensors only"
    return [
        said(crossover(stage_series(scaling, "bytes"), stage), f"{name}'s headline tensor is the largest of all stages"),
        said(crossover(stage_series(scaling, "flops"), stage), f"{name}'s FLOPs are the largest of all stages"),
        said(peak_crossover(scaling, memory, stage), f"the peak ({view}) is inside {name}"),
    ]
