"""The HTML report: one self-contained file (inline CSS and SVG, nothing fetched) rendered with jinja2
from a Result's records, plus the layer graph as GraphML and DOT beside it. Whatever is the model's
(stage colours, the stage that grows with t^2 and its words, the graph's notes) comes from the runs'
`ProfileRecord`, so nothing here names a model.

`report_files` renders the report's files for the main job, which writes them together with the JSON
and CSV; `write_files` writes them for a saved JSON re-rendered without running the model
(`dstt-profile report`: cli/report.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from markupsafe import Markup

from dstt_profile.analysis import laws as fitted
from dstt_profile.analysis import series
from dstt_profile.errors import UsageError
from dstt_profile.fileio import ensure_dir, write_all
from dstt_profile.records.schema import BACKWARD, Result, RunRecord, StageRecord
from dstt_profile.render import graph, laws, plots
from dstt_profile.render.colours import stage_colours
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
    other = (
        f"tensors only: {fmt_bytes(run.peak.tensor_bytes)} ({run.peak.tensor_bytes:,} B) in {stage_place(run.peak.tensor_stage)}"
        if peak.view == "allocator"
        else f"allocator peak: {fmt_bytes(run.peak.bytes)} ({run.peak.bytes:,} B) in {stage_place(run.peak.stage)}"
    )
    return {
        "config": describe(run),
        "params": f"{run.params:,} ({fmt_bytes(run.param_bytes)} at {c['dtype']})",
        "flops": f"{run.flops.total:,} FLOPs = {fmt_count(run.flops.total, 'FLOP')}",
        "macs": f"{run.flops.total // 2:,} multiply-adds = {fmt_count(run.flops.total // 2, 'MAC')}",
        "other": fmt_count(run.flops.other_total, "FLOP"),
        "peak": f"{fmt_bytes(peak.bytes)} ({peak.bytes:,} B), {peak.label}",
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
    from dstt_profile.analysis import footprint

    fp = footprint.of_record(run)
    notes = "; ".join(f"{name}: {note}" for name, _, note in footprint.parts(fp))
    return f"{footprint.sentence(fp)} ({notes})"


def fvcore_rows(run: RunRecord) -> list[dict[str, str]]:
    from dstt_profile.analysis.fvcore_check import reconcile

    return [
        {
            "family": r.family,
            "ours": f"{r.ours_flops:,}",
            "fvcore": f"{r.fvcore_macs:,}",
            "twice": f"{2 * r.fvcore_macs:,}",
            "match": "pass" if r.match else "FAIL",
        }
        for r in reconcile(run)
    ]


def _detail_run(result: Result) -> RunRecord:
    """The run the timeline and the layer graph show: the largest t that kept its per-op records."""
    with_ops = [r for r in result.runs if r.ops] or list(result.runs)
    return max(with_ops, key=lambda r: r.frames)


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


def context(result: Result) -> dict[str, Any]:
    main = _detail_run(result)
    profile = main.profile  # every run of a result is of one model
    runs = sorted(result.runs, key=lambda r: r.frames)
    shown = shown_runs(runs, main)
    scaling = series.of_result(result)
    stage_laws = fitted.stage_laws(scaling)
    peak_laws = fitted.peak_laws(scaling, main.memory)
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
        "law_rows": laws.stage_rows(stage_laws),
        "laws_apart": laws.any_apart(stage_laws, peak_laws),
        "peak_laws": laws.peak_rows(peak_laws),
        "crossovers": laws.crossover_lines(scaling, main.memory, profile),
        "quadratic": {"name": profile.quadratic_name, "tensor": profile.quadratic_tensor} if profile.quadratic_stage else None,
        "law_span": _span(scaling.frames),
        "bytes_svg": svg(plots.scaling_svg(scaling, "bytes", f"per instance ({main.config['dtype']})", profile)),
        "flops_svg": svg(plots.scaling_svg(scaling, "flops", "over all instances (2 per multiply-add)", profile)),
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


def render_html(result: Result) -> str:
    """The report of `result`, from its records alone (never running the model): a saved result
    renders the same report as the run that wrote it."""
    if not result.runs:
        raise UsageError("the result holds no runs: nothing to report")
    twice = result.same_t()
    if twice is not None:
        first, second = twice
        raise UsageError(
            f"the result holds two runs at t={result.runs[second].frames} (runs[{first}] and runs[{second}]): "
            "a report shows one configuration, one run per t"
        )
    return _env().get_template("report.html.j2").render(**context(result))


REPORT_SUFFIXES = ("html", "graphml", "dot")  # what write_files writes, stem.<suffix>


def report_files(result: Result) -> dict[str, str]:
    """The report's files by suffix: the HTML page, the layer graph as GraphML and as DOT. A single
    run's scaling plots need the result's scaling series (api.with_scaling, which the main job adds)."""
    main = _detail_run(result)
    return {
        "html": render_html(result),
        "graphml": graph.graphml_text(main, graph_hints(main)),
        "dot": graph.dot_text(main, graph_hints(main)),
    }


def write_files(result: Result, out: Path, stem: str) -> list[Path]:
    """The report's files as `out/<stem>.<suffix>`, written together (fileio.write_all)."""
    ensure_dir(out)
    return write_all({out / f"{stem}.{suffix}": text for suffix, text in report_files(result).items()})
