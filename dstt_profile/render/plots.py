"""Plots for the HTML report, drawn with matplotlib (Agg) and returned as inline SVG strings.

Every function takes records, never the model. `default_sweep` is the one exception: the main job
calls it to profile a few clip lengths around a single requested t so the scaling plots have points.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dstt_profile.records import Result, RunRecord  # noqa: E402
from dstt_profile.stages import STAGES  # noqa: E402
from dstt_profile.units import fmt_bytes, fmt_count  # noqa: E402

STAGE_COLORS: dict[str, str] = {
    "encoder": "#4e79a7",
    "hier_enc": "#76b7b2",
    "he_output": "#59a14f",
    "temporal_attention": "#e15759",
    "spatial_attention": "#f28e2b",
    "ffn": "#edc948",
    "vec2patch": "#b07aa1",
    "decoder": "#9c755f",
    "output": "#bab0ac",
    "backward": "#555555",
}
OTHER_COLOR = "#cccccc"
TEMPORAL = "temporal_attention"
_RC: Any = {"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "dstt-profile"}


def stage_color(stage: str) -> str:
    return STAGE_COLORS.get(stage, OTHER_COLOR)


def default_sweep_frames(t: int) -> list[int]:
    """Clip lengths to profile beside t: 1, about t/2 and 2t (at least 4), t itself left out.

    14 -> [1, 7, 28]: with t that is four points for a degree-2 fit, at about 0.3 s per extra trace.
    """
    values = {1, max(2, round(t / 2)), max(2 * t, 4)}
    return sorted(values - {t})


def default_sweep(run: RunRecord) -> Result:
    """The run plus its configuration profiled at a few other t (fake tensors, no per-op records).

    Each extra t costs one fake-tensor trace (about 0.3 s), so the sweep stays small.
    """
    from dstt_profile.api import profile_many
    from dstt_profile.runconfig import RunConfig

    base = RunConfig(**run.config)
    configs = [base.replace(frames=t, real=False) for t in default_sweep_frames(run.frames)]
    extra = profile_many(configs, keep_ops=False).runs
    return Result(tuple(sorted((run, *extra), key=lambda r: r.frames)))


def _svg(fig: Any) -> str:
    """The figure as an inline <svg> element: no XML header, no DOCTYPE, no metadata block."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


@dataclass(frozen=True)
class Series:
    stage: str
    t: list[int]
    values: list[int]


def stage_series(runs: Sequence[RunRecord], field: str) -> list[Series]:
    """Per-stage `field` ("bytes" or "flops") against t, in network order."""
    ordered = sorted(runs, key=lambda r: r.frames)
    names = [s for s in STAGES if any(s in r.stages for r in ordered)]
    out = []
    for name in names:
        pts = [(r.frames, int(getattr(r.stages[name], field))) for r in ordered if name in r.stages]
        out.append(Series(name, [p[0] for p in pts], [p[1] for p in pts]))
    return out


def fit(series: Series) -> np.ndarray | None:
    """Degree-2 polynomial coefficients (highest first), or None with fewer than 3 distinct t."""
    if len(set(series.t)) < 3:
        return None
    return np.polyfit(np.array(series.t, float), np.array(series.values, float), 2)


def crossover(series: Sequence[Series]) -> int | None:
    """Smallest whole t in the swept range from which temporal attention's fitted bytes stay the largest."""
    fits = {s.stage: fit(s) for s in series}
    if fits.get(TEMPORAL) is None or any(f is None for f in fits.values()):
        return None
    t_max = max(max(s.t) for s in series)
    grid = np.arange(1, t_max + 1, dtype=float)
    values = {k: np.polyval(f, grid) for k, f in fits.items() if f is not None}
    others = np.max([v for k, v in values.items() if k != TEMPORAL], axis=0)
    leads = values[TEMPORAL] >= others
    if not leads[-1]:
        return None
    start = len(leads)
    while start > 0 and leads[start - 1]:
        start -= 1
    return int(grid[start])


def _plot_series(ax: Any, series: Sequence[Series], log: bool) -> None:
    for s in series:
        color = stage_color(s.stage)
        ax.plot(s.t, [max(v, 1) if log else v for v in s.values], "o", ms=3, color=color, label=s.stage)
        coef = fit(s)
        if coef is not None:
            grid = np.linspace(min(s.t), max(s.t), 100)
            curve = np.polyval(coef, grid)
            ax.plot(grid, np.clip(curve, 1, None) if log else curve, "-", lw=1, color=color)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("t (frames)")
    ax.grid(True, alpha=0.3)


def scaling_svg(runs: Sequence[RunRecord], field: str, unit: str) -> str:
    """Linear and log-log panels of per-stage `field` against t, fitted curves and the crossover."""
    series = [s for s in stage_series(runs, field) if any(s.values)]
    cross = crossover(stage_series(runs, "bytes"))
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
        fig.subplots_adjust(left=0.06, right=0.84, bottom=0.14, top=0.92, wspace=0.22)
        for ax, log in zip(axes, (False, True)):
            _plot_series(ax, series, log)
            ax.set_ylabel(unit)
            ax.set_title(f"{field} per stage vs t ({'log-log' if log else 'linear'})")
            if cross is not None:
                ax.axvline(cross, color=stage_color(TEMPORAL), ls="--", lw=1)
                ax.annotate(f"t={cross}: temporal attention largest", (cross, 0.95), xycoords=("data", "axes fraction"),
                            fontsize=8, color=stage_color(TEMPORAL), ha="left", va="top")
        axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        return _svg(fig)


def timeline_svg(run: RunRecord) -> str | None:
    """Live activation bytes after each op, stages as coloured bands, the peak marked. None without ops."""
    if not run.ops:
        return None
    index = [o.index for o in run.ops]
    live = [o.live_bytes / 2**20 for o in run.ops]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(12, 3.6))
        fig.subplots_adjust(left=0.07, right=0.84, bottom=0.14, top=0.95)
        seen: set[str] = set()
        for stage, first, last in _bands(run):
            label = stage if stage not in seen else None
            seen.add(stage)
            ax.axvspan(first - 0.5, last + 0.5, color=stage_color(stage), alpha=0.25, lw=0, label=label)
        ax.plot(index, live, color="#222222", lw=1)
        peak = run.peak
        ax.plot([peak.op_index], [peak.bytes / 2**20], "v", color="#d00000", ms=8)
        ax.annotate(f"peak {fmt_bytes(peak.bytes)}\n#{peak.op_index} {peak.op}", (peak.op_index, peak.bytes / 2**20),
                    xytext=(8, -4), textcoords="offset points", fontsize=8, color="#d00000", va="top")
        ax.set_xlabel("op index (execution order)")
        ax.set_ylabel(f"live activations (MiB, {run.config['dtype']})")
        ax.set_xlim(index[0] - 0.5, index[-1] + 0.5)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        return _svg(fig)


def _bands(run: RunRecord) -> list[tuple[str, int, int]]:
    """Runs of consecutive ops in one stage: (stage, first index, last index)."""
    bands: list[tuple[str, int, int]] = []
    for o in run.ops:
        if bands and bands[-1][0] == o.stage:
            bands[-1] = (o.stage, bands[-1][1], o.index)
        else:
            bands.append((o.stage, o.index, o.index))
    return bands


def scaling_table(runs: Sequence[RunRecord]) -> list[dict[str, str]]:
    """One row per t: the figures the plots show, as text (for the report and for readers without SVG)."""
    rows = []
    for r in sorted(runs, key=lambda r: r.frames):
        largest = max(r.stages.values(), key=lambda s: s.bytes)
        rows.append(
            {
                "t": str(r.frames),
                "temporal": fmt_bytes(r.stages[TEMPORAL].bytes) if TEMPORAL in r.stages else "-",
                "largest": largest.name,
                "flops": fmt_count(r.flops.total, "FLOP"),
                "peak": fmt_bytes(r.peak.bytes),
                "peak_stage": r.peak.stage,
            }
        )
    return rows
