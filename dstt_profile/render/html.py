"""The HTML report: one self-contained file (inline CSS and SVG, nothing fetched) rendered with jinja2
from a Result's records, plus the layer graph as GraphML and DOT beside it. Whatever is the model's
(stage colours, the stage that grows with t^2 and its words, the graph's notes) comes from the runs'
`ProfileRecord`, so nothing here names a model.

`report_files` renders the report's files; the main job writes them together with the JSON and CSV,
and `dstt-profile report` (cli/report.py) for a saved JSON re-rendered without running the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import jinja2
from markupsafe import Markup

from dstt_profile.records.report import Report
from dstt_profile.records.schema import BACKWARD, MemoryView, RunRecord, StageRecord
from dstt_profile.render import graph, laws, plots
from dstt_profile.render.colours import stage_colours
from dstt_profile.render.footprint import footprint_parts, footprint_sentence
from dstt_profile.render.graphhints import graph_hints
from dstt_profile.render.terminal import backward_flops, backward_share, describe, peak_location, stage_place
from dstt_profile.units import fmt_bytes, fmt_count


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dstt_profile", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def stage_rows(run: RunRecord) -> list[dict[str, str]]:
    """The stage table as text cells, in the run's stage order, then a `backward` row where the run's
    FLOPs include ops outside every forward stage (train mode: the whole backward pass), so the shares
    add up to the total."""
    rows = [_stage_row(run, s) for s in run.stages.values()]
    rest = backward_flops(run)
    if rest:
        rows.append(_backward_row(run, rest))
    return rows


def _backward_row(run: RunRecord, flops: int) -> dict[str, str]:
    what = "the backward pass (train mode): every op of it, where no module runs"
    if run.config.get("mode", "inference") != "train":
        what = "ops outside every forward stage"
    return {
        "stage": BACKWARD,
        "shape": "-",
        "elements": "-",
        "bytes": "-",
        "flops": fmt_count(flops, "FLOP"),
        "instances": "-",
        "share": f"{100 * backward_share(run):.1f}%",
        "formula": "-",
        "substituted": "-",
        "check": "-",
        "headline": what,
    }


def _stage_row(run: RunRecord, s: StageRecord) -> dict[str, str]:
    shape = "x".join(map(str, s.shape)) if s.shape else "-"
    return {
        "stage": s.name,
        "shape": shape + ("" if s.materialised else " *"),
        "elements": f"{s.elements:,}",
        "bytes": fmt_bytes(s.bytes),
        "flops": fmt_count(s.flops, "FLOP") if s.flops else "0",
        "instances": str(s.instances),
        "share": f"{100 * s.share:.1f}%",
        "formula": s.formula,
        "substituted": f"{s.formula_substituted} = {s.formula_elements:,}",
        "check": "pass" if s.match else "FAIL",
        "headline": s.headline,
    }


def summary(run: RunRecord) -> dict[str, str]:
    c = run.config
    peak = run.peak_view
    tp = run.tensor_peak
    other = (
        f"tensors only: {fmt_bytes(tp.bytes)} ({tp.bytes:,} B) in {stage_place(tp.stage)}"
        if run.view == MemoryView.ALLOCATOR
        else f"allocator peak: {fmt_bytes(run.peak.bytes)} ({run.peak.bytes:,} B) in {stage_place(run.peak.stage)}"
    )
    return {
        "config": describe(run),
        "params": f"{run.params:,} ({fmt_bytes(run.param_bytes)} at {c['dtype']})",
        "flops": f"{run.flops.total:,} FLOPs = {fmt_count(run.flops.total, 'FLOP')}",
        "macs": f"{run.flops.total // 2:,} multiply-adds = {fmt_count(run.flops.total // 2, 'MAC')}",
        "other": fmt_count(run.flops.other_total, "FLOP"),
        "peak": f"{fmt_bytes(peak.bytes)} ({peak.bytes:,} B), {run.view.label}",
        "peak_other": other,
        "peak_basis": run.peak.basis,
        "peak_where": peak_location(peak.stage, peak.op_index, peak.op, peak.module),
        "footprint": footprint_text(run),
        "dtype": str(c["dtype"]),
        "input": fmt_bytes(run.input_bytes),
        "checks": f"{sum(ch.passed for ch in run.checks)}/{len(run.checks)} pass",
    }


def footprint_text(run: RunRecord) -> str:
    """The footprint as the sum of its parts, with what is inside the activation peak (train mode)."""
    notes = "; ".join(f"{name}: {note}" for name, _, note in footprint_parts(run.footprint))
    return f"{footprint_sentence(run.footprint)} ({notes})"


def fvcore_rows(run: RunRecord) -> list[dict[str, str]]:
    """Our FLOPs against fvcore's multiply-adds, op family by op family (ours == 2 x fvcore's)."""
    return [
        {"family": family, "ours": f"{ours:,}", "fvcore": f"{macs:,}", "twice": f"{2 * macs:,}",
         "match": "pass" if ours == 2 * macs else "FAIL"}
        for family, ours, macs in run.fvcore_families()
    ]


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


def context(report: Report) -> dict[str, Any]:
    main = report.detail
    profile = main.profile  # every run of a result is of one model
    runs = sorted(report.runs, key=lambda r: r.frames)
    shown = shown_runs(runs, main)
    scaling = report.scaling
    failing = [r for r in runs if any(not c.passed for c in r.checks)]
    passed = sum(c.passed for r in runs for c in r.checks)
    svg = Markup  # our own SVG (matplotlib's, or graph.py's with every text escaped)
    return {
        "title": describe(main) if len(runs) == 1 else describe(main).replace(f"t={main.frames}", "sweep t=" + _frames(runs)),
        "sweep": len(runs) > 1,
        "main": main,
        "summary": summary(main),
        "tables": [{"t": r.frames, "rows": stage_rows(r), "fused": any(not s.materialised for s in r.stages.values())}
                   for r in shown],
        "tables_note": "" if len(shown) == len(runs) else (
            f"Stage tables of {len(shown)} of the sweep's {len(runs)} runs, evenly spaced in t; every run is in the "
            "JSON and CSV written beside this report."
        ),
        "scaling_note": scaling.source,
        "scaling_rows": plots.scaling_table(scaling, main.memory, shown_runs(list(scaling.frames), main.frames),
                                            profile.quadratic_stage),
        "law_rows": laws.stage_rows(report.laws),
        "laws_apart": laws.any_apart(report.laws),
        "peak_laws": laws.peak_rows(report.laws),
        "crossovers": laws.crossover_lines(report.laws, scaling, profile),
        "quadratic": {"name": profile.quadratic_name, "tensor": profile.quadratic_tensor} if profile.quadratic_stage else None,
        "law_span": _span(scaling.frames),
        "bytes_svg": svg(plots.scaling_svg(report, "bytes", f"per instance ({main.config['dtype']})")),
        "flops_svg": svg(plots.scaling_svg(report, "flops", "over all instances (2 per multiply-add)")),
        "timeline_svg": _maybe(plots.timeline_svg(main)),
        "graph": _graph_views(main),
        "measured_rows": measured_rows(runs),
        "measured_method": next((r.measured.method for r in runs if r.measured), ""),
        "measured_stages": list(dict.fromkeys(s for r in runs if r.measured for s in r.measured.stage_seconds)),
        "fvcore": main.fvcore,
        "fvcore_rows": fvcore_rows(main),
        "unsupported": sorted(main.flops.unsupported.items()),
        "fvcore_unsupported": sorted(main.fvcore.unsupported.items()) if main.fvcore else [],
        "checks": main.checks,
        "checks_line": f"{len(runs):,} runs, {passed:,}/{sum(len(r.checks) for r in runs):,} formula checks pass",
        "failures": [(r.frames, [c.name for c in r.checks if not c.passed]) for r in failing],
        "stage_colors": stage_colours(profile),
    }


def _span(frames: Sequence[int]) -> str:
    """The swept t in words: `t = 1..64`, or the values where they are not every whole t."""
    if not frames:
        return "no t"
    if list(frames) == list(range(frames[0], frames[-1] + 1)):
        return f"t = {frames[0]}..{frames[-1]}" if len(frames) > 1 else f"t = {frames[0]}"
    return f"t in {', '.join(map(str, frames))}" if len(frames) <= 8 else f"{len(frames)} values of t from {frames[0]} to {frames[-1]}"


def _graph_views(run: RunRecord) -> dict[str, Any]:
    """The layer graph at its default depth and each of its blocks opened to its ops, as inline SVG."""
    if not run.ops:
        return {"main": None, "reason": "This result kept no per-op records, so there is no layer graph. The main job "
                "(`dstt-profile --frames N`) keeps them."}
    if not any(o.inputs for o in run.ops):
        return {"main": None, "reason": "This result was saved before the ops' inputs were recorded, so its data flow is "
                "unknown; run the configuration again to draw its layer graph."}
    hints = graph_hints(run)
    main, details = graph.report_views(run, hints)
    return {
        "main": Markup(main.svg),
        "details": [{"id": d.id, "node": d.node, "svg": Markup(d.svg)} for d in details],
        "depth": hints.depth,
    }


def measured_rows(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per measured run: the peaks, their errors, where, and wall times (ms per stage)."""
    rows = []
    for r in runs:
        m = r.measured
        if m is None:
            continue
        rows.append(
            {
                "t": r.frames,
                "device": m.device,
                "measured": f"{m.measured_peak_bytes:,}",
                "allocator": f"{m.predicted_allocator_peak_bytes:,}",
                "allocator_error": f"{m.peak_error_pct:+.3f}%",
                "tensor": f"{m.predicted_peak_bytes:,}",
                "tensor_error": f"{m.tensor_peak_error_pct:+.3f}%",
                "where": f"{m.allocator_peak_op} in {m.allocator_peak_module or '<root>'} "
                f"(+{fmt_bytes(m.workspace_at_peak_bytes)} workspace)",
                "forward": f"{m.forward_seconds:.3f} s",
                "rss": fmt_bytes(m.rss_peak_bytes),
                "stage_ms": {s: f"{v * 1000:.1f}" for s, v in m.stage_seconds.items()},
            }
        )
    return rows


def _frames(runs: Sequence[RunRecord]) -> str:
    return f"{runs[0].frames}..{runs[-1].frames}"


def _maybe(text: str | None) -> Markup | None:
    return Markup(text) if text is not None else None


def render_html(report: Report) -> str:
    """The report page, from its records alone (never running the model): a saved result renders the
    same report as the run that wrote it."""
    return _env().get_template("report.html.j2").render(**context(report))


REPORT_SUFFIXES = ("html", "graphml", "dot")  # what write_files writes, stem.<suffix>


def report_files(report: Report) -> dict[str, str]:
    """The report's files by suffix: the HTML page, the layer graph as GraphML and as DOT."""
    main = report.detail
    return {
        "html": render_html(report),
        "graphml": graph.graphml_text(main, graph_hints(main)),
        "dot": graph.dot_text(main, graph_hints(main)),
    }
