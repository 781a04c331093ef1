"""The attention what-if: the matmul backend (t^2 matrix materialised) against sdpa (fused kernel).

With a fused kernel the attention matrix never exists, so the temporal block's t^2 tensor is gone and
the peak grows linearly in t. Kernel selection under FakeTensorMode follows the device type, so the
report says which aten op ran each attention stage on which device (`RunRecord.kernels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from dstt_profile.analysis.scaling import Fit, PeakSegment, peak_segments
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord
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
    """One backend's figures; the t^2 stage is the one the run's profile names (DSTT's temporal attention)."""
    stage = record.profile.quadratic_stage
    if stage not in record.stages:
        raise ValueError(f"whatif: the {record.title} run's profile names no stage that grows with t^2")
    temporal = record.stages[stage]
    return Side(
        attention=str(record.arg("attention")),
        peak_bytes=record.peak_view.bytes,
        peak_stage=record.peak_view.stage,
        kernels=dict(record.kernels),
        temporal_elements=temporal.elements,
        temporal_materialised=temporal.materialised,
    )


def compare(matmul: RunRecord, sdpa: RunRecord) -> Comparison:
    """Two runs of the same configuration but the attention backend."""
    a, b = dict(matmul.config), dict(sdpa.config)
    a["model_args"], b["model_args"] = dict(a.get("model_args", {})), dict(b.get("model_args", {}))
    if a["model_args"].pop("attention", None) != "matmul" or b["model_args"].pop("attention", None) != "sdpa":
        raise ValueError("compare(matmul_run, sdpa_run): attention backends are not matmul, sdpa")
    if a != b:
        raise ValueError("compare: the two runs differ in more than the attention backend")
    return Comparison(matmul.frames, side(matmul), side(sdpa))


def run_pair(base: RunConfig) -> Comparison:
    from dstt_profile.api import profile_run

    matmul, sdpa = (profile_run(base.with_args(attention=a), keep_ops=False) for a in BACKENDS)
    return compare(matmul, sdpa)


@dataclass(frozen=True)
class Growth:
    """How each backend's peak grows over a sweep: fits per segment of constant peak stage."""

    matmul: list[PeakSegment]
    sdpa: list[PeakSegment]


def growth(matmul: Result, sdpa: Result) -> Growth:
    return Growth(peak_segments(matmul), peak_segments(sdpa))


def sweep_pair(base: RunConfig, frames: Sequence[int]) -> tuple[Result, Result]:
    from dstt_profile.api import profile_many

    return tuple(  # type: ignore[return-value]
        profile_many([base.replace(frames=t).with_args(attention=a) for t in frames], keep_ops=False) for a in BACKENDS
    )


def _fits_text(segments: list[PeakSegment]) -> list[str]:
    return [f"    t={s.first}..{s.last} peak in {s.stage}: {_law(s.fit)}" for s in segments]


def _law(fit: Fit) -> str:
    if fit.poly is None:
        return f"no exact polynomial from {len(fit.points)} point(s)"
    return f"{fit.poly.text()} bytes (degree {fit.poly.degree})"


def render(cmp: Comparison, grow: Growth | None = None) -> str:
    lines = [f"Attention what-if at t = {cmp.frames}:"]
    for s in (cmp.matmul, cmp.sdpa):
        matrix = "materialised" if s.temporal_materialised else "attention matrix not materialised"
        lines.append(
            f"  {s.attention:6s} peak {fmt_bytes(s.peak_bytes)} ({s.peak_bytes:,} B) in {s.peak_stage}; "
            f"temporal largest tensor {s.temporal_elements:,} elements ({matrix})"
        )
        for stage, kernel in sorted(s.kernels.items()):
            lines.append(f"         {stage} ran {kernel}")
    lines.append(f"  ratio matmul/sdpa = {float(cmp.ratio):.3f} ({cmp.ratio})")
    if grow is not None:
        lines.append("  growth of the peak (exact fits):")
        lines.append("   matmul:")
        lines += _fits_text(grow.matmul)
        lines.append("   sdpa:")
        lines += _fits_text(grow.sdpa)
    return "\n".join(lines)
