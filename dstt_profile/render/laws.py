"""The scaling laws and crossovers as text, exact (`4,147,200 t^2 + 13,639,680 t`), from a report's `Laws`."""

from __future__ import annotations

from fractions import Fraction

from dstt_profile.records.laws import Law, Laws, Poly
from dstt_profile.records.report import Report
from dstt_profile.records.schema import ProfileRecord, ScalingRecord


def _number(value: Fraction) -> str:
    """1234567 -> 1,234,567; 3/2 -> 3/2."""
    return f"{value.numerator:,}" + (f"/{value.denominator:,}" if value.denominator != 1 else "")


def poly_text(poly: Poly, var: str = "t") -> str:
    """Highest power first, zero terms left out, exact: `4,147,200 t^2 + 13,639,680 t`, `0` for zero."""
    terms: list[str] = []
    for power in range(poly.degree, -1, -1):
        coef = poly.coefficients[power]
        if coef == 0:
            continue
        name = {0: "", 1: var}.get(power, f"{var}^{power}")
        text = name if abs(coef) == 1 and name else f"{_number(abs(coef))} {name}".rstrip()
        sign = ("-" if coef < 0 else "") if not terms else ("- " if coef < 0 else "+ ")
        terms.append(sign + text)
    return " ".join(terms) or "0"


def law_text(law: Law) -> str:
    """`2,073,600 t^2`, or where t = 1 stands apart, `19,906,560 t + 147,456 (t >= 2; t = 1: 19,906,560)`."""
    if law.poly is None:
        return f"no exact polynomial of degree <= 4 through the {law.points} points"
    text = poly_text(law.poly)
    if law.apart:
        text += f" (t >= {law.first}; " + "; ".join(f"t = {t}: {v:,}" for t, v in law.apart) + ")"
    return text


def fit_line(law: Law) -> str:
    if law.poly is None:
        return f"{law.name}: no exact polynomial (t in {law.first}..{law.last})"
    slope = f"{law.slope:.3f}" if law.slope is not None else "n/a"
    apart = "".join(f"; t = {t} apart: {v}" for t, v in law.apart)
    return f"{law.name}: {law.poly.text()} (degree {law.poly.degree}, log-log slope {slope}, t = {law.first}..{law.last}{apart})"


def stage_rows(laws: Laws) -> list[dict[str, str]]:
    return [
        {"stage": name, "bytes": law_text(f["bytes"]), "flops": law_text(f["flops"]), "peak": law_text(f["peak_bytes"])}
        for name, f in laws.stages.items()
    ]


def any_apart(laws: Laws) -> bool:
    """Whether any law shown leaves t = 1 apart (the report then says why)."""
    shown = [law for f in laws.stages.values() for law in f.values()] + [seg.law for seg in laws.peaks]
    return any(law.apart for law in shown)


def peak_rows(laws: Laws) -> list[dict[str, str]]:
    """The peak's law over each run of t where one stage holds it."""
    firsts = [seg.law.apart[0][0] if seg.law.apart else seg.law.first for seg in laws.peaks]
    return [{"span": f"t = {first}" if first == seg.law.last else f"t = {first}..{seg.law.last}", "stage": seg.stage,
             "law": law_text(seg.law)} for first, seg in zip(firsts, laws.peaks)]


def crossover_lines(laws: Laws, scaling: ScalingRecord, profile: ProfileRecord) -> list[str]:
    """Where the profile's t^2 stage takes over (its headline tensor, FLOPs, the peak), over the swept t."""
    if not laws.crossovers:
        return []
    name = profile.quadratic_name
    last = scaling.frames[-1]

    def said(t: int | None, what: str) -> str:
        if t is None:
            return f"{what}: not by t = {last} (the largest t here)"
        if t == scaling.frames[0]:
            return f"{what}: at every t here (from t = {t}, the smallest)"
        return f"{what}: from t = {t}"

    view = "allocator" if laws.view == "allocator" else "tensors only"
    return [
        said(laws.crossovers["bytes"], f"{name}'s headline tensor is the largest of all stages"),
        said(laws.crossovers["flops"], f"{name}'s FLOPs are the largest of all stages"),
        said(laws.crossovers["peak"], f"the peak ({view}) is inside {name}"),
    ]


def scaling_text(report: Report, peak_from: int | None) -> str:
    """The `scaling` subcommand's text; the t^2 stage's headline tensor takes over where the exact laws
    project it (up to t = 4,096), the peak from `peak_from` (searched over runs)."""
    run = report.run
    c = run.config
    words = [f"{c.height}x{c.width}", c.dtype, str(run.arg("attention")), f"b={c.batch}"]
    lines = [f"Scaling over t ({' '.join(w for w in words if w)}), exact fits verified on every point:"]
    lines += [f"  {fit_line(law)}" for laws in report.laws.stages.values() for law in laws.values()]
    lines.append("Peak, fitted only where the stage holding it is constant:")
    lines += [f"  t={seg.law.first}..{seg.law.last} in {seg.stage}: {fit_line(seg.law)}" for seg in report.laws.peaks]
    profile = run.profile
    stage = profile.quadratic_stage
    if stage in report.laws.stages:
        crossing = report.laws.crossovers.get("bytes_projected")
        what = profile.quadratic_tensor
        lines.append(f"{what[:1].upper()}{what[1:]} is the largest headline tensor from t = {crossing}")
        view = "allocator peak" if report.laws.view == "allocator" else "tensor peak"
        found = f"t = {peak_from}" if peak_from is not None else "no t up to 65,536"
        lines.append(f"The {view} is set inside {profile.quadratic_name} from {found} (searched over fake-tensor runs)")
    return "\n".join(lines)
