"""DSTT's attention what-if: the matmul backend (t^2 matrix materialised) against sdpa (fused kernel)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dstt_profile.records.laws import PeakSegment
from dstt_profile.records.schema import RunRecord
from dstt_profile.units import fmt_bytes

BACKENDS = ("matmul", "sdpa")


@dataclass(frozen=True)
class Side:
    attention: str
    peak_bytes: int
    peak_stage: str
    kernels: dict[str, str]
    temporal_elements: int  # the temporal stage's largest tensor
    temporal_materialised: bool


@dataclass(frozen=True)
class Comparison:
    frames: int
    matmul: Side
    sdpa: Side

    @property
    def ratio(self) -> Fraction:
        """matmul peak / sdpa peak, exactly."""
        return Fraction(self.matmul.peak_bytes, self.sdpa.peak_bytes)


def side(record: RunRecord) -> Side:
    """One backend's figures; the t^2 stage is the one the run's profile names (temporal attention)."""
    stage = record.profile.quadratic_stage
    if stage not in record.stages:
        raise ValueError(f"whatif: the {record.title} run's profile names no stage that grows with t^2")
    temporal = record.stages[stage]
    return Side(str(record.arg("attention")), record.peak_view.bytes, record.peak_view.stage, dict(record.kernels),
                temporal.elements, temporal.materialised)


def compare(matmul: RunRecord, sdpa: RunRecord) -> Comparison:
    """Two runs of the same configuration but the attention backend."""
    a, b = matmul.config, sdpa.config
    if a.arg("attention") != "matmul" or b.arg("attention") != "sdpa":
        raise ValueError("compare(matmul_run, sdpa_run): attention backends are not matmul, sdpa")
    if a.with_args(attention="sdpa") != b:
        raise ValueError("compare: the two runs differ in more than the attention backend")
    return Comparison(matmul.frames, side(matmul), side(sdpa))


def _growth_lines(segments: tuple[PeakSegment, ...]) -> list[str]:
    return [f"    t={s.law.first}..{s.law.last} peak in {s.stage}: " + (
        f"no exact polynomial from {s.law.points} point(s)" if s.law.poly is None
        else f"{s.law.poly.text()} bytes (degree {s.law.poly.degree})") for s in segments]


def render(cmp: Comparison, growth: tuple[tuple[PeakSegment, ...], tuple[PeakSegment, ...]] | None = None) -> str:
    """The comparison at one t; with `growth` (each backend's peak laws), how each peak grows."""
    lines = [f"Attention what-if at t = {cmp.frames}:"]
    for s in (cmp.matmul, cmp.sdpa):
        matrix = "materialised" if s.temporal_materialised else "attention matrix not materialised"
        lines.append(f"  {s.attention:6s} peak {fmt_bytes(s.peak_bytes)} ({s.peak_bytes:,} B) in "
                     f"{s.peak_stage}; temporal largest tensor {s.temporal_elements:,} elements ({matrix})")
        lines += [f"         {stage} ran {kernel}" for stage, kernel in sorted(s.kernels.items())]
    lines.append(f"  ratio matmul/sdpa = {float(cmp.ratio):.3f} ({cmp.ratio})")
    if growth is not None:
        lines += ["  growth of the peak (exact fits):", "   matmul:", *_growth_lines(growth[0]), "   sdpa:",
                  *_growth_lines(growth[1])]
    return "\n".join(lines)
