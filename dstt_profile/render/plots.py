"""Plots for the HTML report, drawn with matplotlib (Agg) from records alone, as inline SVG."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dstt_profile.records.laws import Law  # noqa: E402
from dstt_profile.records.report import Report  # noqa: E402
from dstt_profile.records.schema import RunRecord, ScalingRecord  # noqa: E402
from dstt_profile.render.colours import colour_of, stage_colours  # noqa: E402
from dstt_profile.units import fmt_bytes, fmt_count  # noqa: E402

_RC: Any = {"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "dstt-profile"}


def _svg(size: tuple[float, float], panels: int, adjust: Mapping[str, float], draw: Callable[[Any, list[Any]], None]) -> str:
    """`draw(figure, axes)` on a row of `panels`, as an inline <svg>: no XML header, DOCTYPE nor metadata."""
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(1, panels, figsize=size)
        fig.subplots_adjust(**adjust)
        draw(fig, list(np.atleast_1d(axes)))
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)
    text = buf.getvalue()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


class Scale(NamedTuple):
    name: str
    size: int


BYTE_SCALES = (Scale("GiB", 2**30), Scale("MiB", 2**20), Scale("KiB", 2**10), Scale("bytes", 1))
FLOP_SCALES = (Scale("TFLOP", 10**12), Scale("GFLOP", 10**9), Scale("MFLOP", 10**6), Scale("FLOP", 1))


def scale_for(field: str, largest: int) -> Scale:
    """The largest unit of `field` that `largest` reaches one of."""
    scales = BYTE_SCALES if field == "bytes" else FLOP_SCALES
    return next((sc for sc in scales if largest >= sc.size), scales[-1])


def _log_ticks(ax: Any) -> None:
    """Major ticks only, labelled as plain numbers (0.01, 2, 1000): no minor labels to overlap."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_xlim()
    ax.xaxis.set_major_locator(FixedLocator([x for x in (m * 10**e for e in range(-1, 7) for m in (1, 2, 5)) if lo <= x <= hi]))
    ylo, yhi = ax.get_ylim()
    decades = np.log10(yhi / ylo) if ylo > 0 else 99.0
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2 else (1.0,), numticks=12))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())


def _plot_series(ax: Any, report: Report, field: str, log: bool, scale: Scale, colours: Mapping[str, str]) -> None:
    """Each stage's `field` against t; the stage's exact law between the points where t is sparse."""
    t = list(report.scaling.frames)
    dense = t == list(range(t[0], t[-1] + 1)) if t else True
    floor = 1 / scale.size  # one byte or one FLOP, in the plotted unit
    for stage, s in report.scaling.stages.items():
        values = getattr(s, field)
        if not any(values):
            continue
        color = colour_of(colours, stage)
        shown = [max(v / scale.size, floor) if log else v / scale.size for v in values]
        if dense:  # every whole t is known exactly: the curve is the points
            ax.plot(t, shown, "-", lw=1.2, color=color, label=stage)
            continue
        ax.plot(t, shown, "o", ms=3, color=color, label=stage)
        law: Law = report.laws.stages[stage][field]
        if law.poly is not None:
            grid = np.linspace(law.first, law.last, 100)
            curve = np.array([float(law.poly(Fraction(x).limit_denominator(1000))) for x in grid]) / scale.size
            ax.plot(grid, np.clip(curve, floor, None) if log else curve, "-", lw=1, color=color)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_ticks(ax)
    ax.set_xlabel("t (frames)")
    ax.grid(True, alpha=0.3)


def scaling_svg(report: Report, field: str, what: str) -> str:
    """Linear and log-log panels of per-stage `field` against t, the report's crossover of `field` marked."""
    profile = report.detail.profile
    cross = report.laws.crossovers.get(field)
    colours = stage_colours(profile)
    scale = scale_for(field, max((v for s in report.scaling.stages.values() for v in getattr(s, field)), default=0))
    quantity = "FLOPs" if field == "flops" else field
    mark = colour_of(colours, profile.quadratic_stage)

    def draw(_fig: Any, axes: list[Any]) -> None:
        for ax, log in zip(axes, (False, True)):
            _plot_series(ax, report, field, log, scale, colours)
            ax.set_ylabel(f"{scale.name} {what}")
            ax.set_title(f"{quantity} per stage vs t ({'log-log' if log else 'linear'})")
            if cross is not None:
                ax.axvline(cross, color=mark, ls="--", lw=1)
                ax.annotate(f"t={cross}: {profile.quadratic_name}'s {quantity} largest", (cross, 0.95),
                            xycoords=("data", "axes fraction"), fontsize=8, color=mark, ha="left", va="top")
        if axes[1].get_legend_handles_labels()[0]:  # a series of zeros is not drawn on a log scale
            axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))

    return _svg((12, 3.8), 2, {"left": 0.06, "right": 0.84, "bottom": 0.14, "top": 0.92, "wspace": 0.22}, draw)


def timeline_svg(run: RunRecord) -> str | None:
    """Bytes held at each op in the run's memory view, stages as bands, the peak marked; None without ops."""
    if not run.ops:
        return None
    index = [o.index for o in run.ops]
    held = [run.timeline_bytes(o) for o in run.ops]
    peak = run.peak_view
    scale = scale_for("bytes", max([*held, peak.bytes]))
    colours = stage_colours(run.profile)
    bands: list[tuple[str, int, int]] = []  # runs of consecutive ops in one stage: (stage, first, last index)
    for o in run.ops:
        if bands and bands[-1][0] == o.stage:
            bands[-1] = (o.stage, bands[-1][1], o.index)
        else:
            bands.append((o.stage, o.index, o.index))

    def draw(_fig: Any, axes: list[Any]) -> None:
        ax = axes[0]
        seen: set[str] = set()
        for stage, first, last in bands:
            ax.axvspan(first - 0.5, last + 0.5, color=colour_of(colours, stage), alpha=0.25, lw=0,
                       label=stage if stage not in seen else None)
            seen.add(stage)
        ax.plot(index, [v / scale.size for v in held], color="#222222", lw=1)
        ax.plot([peak.op_index], [peak.bytes / scale.size], "v", color="#d00000", ms=8)
        ax.annotate(f"peak {fmt_bytes(peak.bytes)}\n#{peak.op_index} {peak.op}", (peak.op_index, peak.bytes / scale.size),
                    xytext=(8, -4), textcoords="offset points", fontsize=8, color="#d00000", va="top")
        ax.set_xlabel("op index (execution order)")
        what = "allocator, incl. workspaces" if run.memory == "allocator" else "tensors only"
        ax.set_ylabel(f"held during the pass ({scale.name}, {what})")
        ax.set_xlim(index[0] - 0.5, index[-1] + 0.5)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))

    return _svg((12, 3.6), 1, {"left": 0.07, "right": 0.84, "bottom": 0.14, "top": 0.95}, draw)


def scaling_table(scaling: ScalingRecord, memory: str, frames: Sequence[int], quadratic: str) -> list[dict[str, str]]:
    """The plots' figures as text, a row per t of `frames`; `quadratic` the stage with a bytes column."""
    peak_bytes, peak_stage = scaling.peaks(memory)
    at = {t: i for i, t in enumerate(scaling.frames)}
    grows = scaling.stages.get(quadratic) if quadratic else None
    return [{"t": str(t), "quadratic": fmt_bytes(grows.bytes[at[t]]) if grows is not None else "-",
             "largest": max(scaling.stages, key=lambda name: scaling.stages[name].bytes[at[t]]) if scaling.stages else "-",
             "flops": fmt_count(scaling.flops[at[t]], "FLOP"), "peak": fmt_bytes(peak_bytes[at[t]]),
             "peak_stage": peak_stage[at[t]]} for t in frames]
