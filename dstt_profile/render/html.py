"""The HTML report (one self-contained file, from a report's records alone) and its GraphML and DOT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import jinja2
from markupsafe import Markup

from dstt_profile.records.report import Report
from dstt_profile.records.schema import RunRecord
from dstt_profile.render import graph, laws, plots
from dstt_profile.render.colours import stage_colours
from dstt_profile.render.footprint import footprint_parts, footprint_sentence
from dstt_profile.render.table import exact_bytes
from dstt_profile.render.terminal import (
    describe,
    fused_notes,
    measured_rows,
    other_peak,
    peak_location,
    stage_rows,
)
from dstt_profile.units import fmt_bytes, fmt_count


def summary(run: RunRecord) -> dict[str, str]:
    c, peak, total = run.config, run.peak_view, run.flops.total
    return {"config": describe(run), "params": f"{run.params:,} ({fmt_bytes(run.param_bytes)} at {c.dtype})",
            "flops": f"{total:,} FLOPs = {fmt_count(total, 'FLOP')}",
            "macs": f"{total // 2:,} multiply-adds = {fmt_count(total // 2, 'MAC')}",
            "other": fmt_count(run.flops.other_total, "FLOP"),
            "peak": f"{exact_bytes(peak.bytes)}, {run.memory.label}", "peak_other": other_peak(run),
            "peak_basis": run.peak.basis, "peak_where": peak_location(peak),
            "footprint": footprint_text(run), "dtype": str(c.dtype), "input": fmt_bytes(run.input_bytes),
            "checks": f"{sum(ch.passed for ch in run.checks)}/{len(run.checks)} pass" if run.checks else NO_FORMULAS}


NO_FORMULAS = "none (no formulas for this model)"


def footprint_text(run: RunRecord) -> str:
    """The footprint as the sum of its parts, with what is inside the activation peak (train mode)."""
    notes = "; ".join(f"{name}: {note}" for name, _, note in footprint_parts(run.footprint))
    return f"{footprint_sentence(run.footprint)} ({notes})"


SHOWN_RUNS = 64  # most runs of a sweep given their own stage table and scaling row in the report
T = TypeVar("T")


def shown_runs(runs: Sequence[T], keep: T, limit: int = SHOWN_RUNS) -> list[T]:
    """At most `limit` of `runs` (sorted by t), evenly spaced, always with the first, the last and `keep`."""
    if len(runs) <= limit:
        return list(runs)
    step = (len(runs) - 1) / (limit - 1)
    picked = sorted({round(i * step) for i in range(limit)})
    if keep in runs and runs.index(keep) not in picked:
        at = runs.index(keep)
        nearest = min(picked[1:-1], key=lambda i: abs(i - at))
        picked = sorted({*picked, at} - {nearest})
    return [runs[i] for i in picked]


def _span(frames: Sequence[int]) -> str:
    """The swept t in words: `t = 1..64`, or the values where they are not every whole t."""
    if not frames:
        return "no t"
    if list(frames) == list(range(frames[0], frames[-1] + 1)):
        return f"t = {frames[0]}..{frames[-1]}" if len(frames) > 1 else f"t = {frames[0]}"
    return f"t in {', '.join(map(str, frames))}" if len(frames) <= 8 else f"{len(frames)} values of t from {frames[0]} to {frames[-1]}"


def context(report: Report) -> dict[str, Any]:
    main = report.detail
    profile = main.profile  # every run of a result is of one model
    runs = sorted(report.runs, key=lambda r: r.frames)
    shown = shown_runs(runs, main)
    scaling = report.scaling
    passed = sum(c.passed for r in runs for c in r.checks)
    measured = measured_rows(runs)
    title = describe(main) if len(runs) == 1 else describe(main).replace(f"t={main.frames}", f"sweep t={runs[0].frames}..{runs[-1].frames}")
    svg = Markup  # our own SVG (matplotlib's, or the graph's with every text escaped)
    return {
        "title": title, "sweep": len(runs) > 1, "main": main, "summary": summary(main),
        "tables": [{"t": r.frames, "rows": stage_rows(r), "fused": fused_notes(r, (
            "the largest tensor of the stage is shown.", "the matrix it computes is shown, at the size it would have."))}
                   for r in shown],
        "tables_note": "" if len(shown) == len(runs) else (
            f"Stage tables of {len(shown)} of the sweep's {len(runs)} runs, evenly spaced in t; every run is in the "
            "JSON and CSV written beside this report."), "scaling_note": scaling.source,
        "scaling_rows": plots.scaling_table(scaling, main.memory, shown_runs(list(scaling.frames), main.frames),
                                            profile.quadratic_stage),
        "law_rows": laws.stage_rows(report.laws), "laws_apart": laws.any_apart(report.laws),
        "peak_laws": laws.peak_rows(report.laws),
        "crossovers": laws.crossover_lines(report.laws, scaling, profile),
        "quadratic": {"name": profile.quadratic_name, "tensor": profile.quadratic_tensor} if profile.quadratic_stage else None,
        "law_span": _span(scaling.frames),
        "bytes_svg": svg(plots.scaling_svg(report, "bytes", f"per instance ({main.config.dtype})")),
        "flops_svg": svg(plots.scaling_svg(report, "flops", "over all instances (2 per multiply-add)")),
        "timeline_svg": svg(timeline) if (timeline := plots.timeline_svg(main)) is not None else None,
        "graph": _graph_views(main), "measured_rows": measured,
        "measured_method": measured[0]["method"] if measured else "",
        "measured_stages": list(dict.fromkeys(s for r in measured for s in r["stage_ms"])),
        "fvcore": main.fvcore,
        "fvcore_rows": [{"family": family, "ours": f"{ours:,}", "fvcore": f"{macs:,}", "twice": f"{2 * macs:,}",
                         "match": "pass" if ours == 2 * macs else "FAIL"} for family, ours, macs in main.fvcore_families()],
        "unsupported": sorted(main.flops.unsupported.items()),
        "fvcore_unsupported": sorted(main.fvcore.unsupported.items()) if main.fvcore else [],
        "checks": main.checks,
        "checks_line": f"{len(runs):,} runs, {passed:,}/{checks:,} formula checks pass" if (checks := sum(
            len(r.checks) for r in runs)) else f"{len(runs):,} runs, no formula checks (no formulas for this model)",
        "failures": [(r.frames, names) for r in runs if (names := [c.name for c in r.checks if not c.passed])],
        "stage_colors": stage_colours(profile)}


def _graph_views(run: RunRecord) -> dict[str, Any]:
    """The layer graph at its default depth and each of its blocks opened to its ops, as inline SVG."""
    if not run.ops:
        return {"main": None, "reason": "This result kept no per-op records, so there is no layer graph. The main job "
                "(`dstt-profile --frames N`) keeps them."}
    if not any(o.inputs for o in run.ops):
        return {"main": None, "reason": "This result was saved before the ops' inputs were recorded, so its data flow is "
                "unknown; run the configuration again to draw its layer graph."}
    hints = graph.graph_hints(run)
    main, details = graph.report_views(run, hints)
    return {"main": Markup(main.svg), "details": [{"id": d.id, "node": d.node, "svg": Markup(d.svg)} for d in details],
            "depth": hints.depth}


def render_html(report: Report) -> str:
    """The report page, from its records alone: a saved result renders as the run that wrote it."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("dstt_profile", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context(report))


REPORT_SUFFIXES = ("html", "graphml", "dot")  # what write_files writes, stem.<suffix>


def report_files(report: Report) -> dict[str, str]:
    """The report's files by suffix: the HTML page, the layer graph as GraphML and as DOT."""
    main = report.detail
    hints = graph.graph_hints(main)
    return {"html": render_html(report), "graphml": graph.graphml_text(main, hints), "dot": graph.dot_text(main, hints)}
