"""The terminal summary, and the cells and sentences the HTML report shares with it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dstt_profile.records.report import Report
from dstt_profile.records.schema import (
    BACKWARD,
    ROOT_STAGE,
    MemoryView,
    PeakRecord,
    Result,
    RunRecord,
    StageRecord,
)
from dstt_profile.render.footprint import footprint_lines
from dstt_profile.render.table import dims, exact_bytes, module_name, table
from dstt_profile.units import fmt_bytes, fmt_count


def describe(run: RunRecord, frames: str | None = None) -> str:
    """The title line of a run (`frames` in place of "t=14": "sweep")."""
    c = run.config
    tensors = ("real tensors" if c.real else "fake tensors") if run.measured is None else (
        f"measured: real forward passes on {run.measured.device} beside the prediction")
    view = "allocator view" if c.memory == "allocator" else "tensor view"
    device = f"{c.device} {c.threads} threads" if c.device == "cpu" and c.threads else c.device
    how = ", ".join(w for w in (run.profile.variant, c.mode, device, tensors, view) if w)
    return f"{run.title} {frames or f't={c.frames}'} {c.height}x{c.width} batch {c.batch} {c.dtype} ({how})"


def checked(stage: StageRecord) -> bool:
    """Whether the stage's headline was checked against a formula. A model without formulas has none: its
    `match` is null (a file written before null was allowed holds a boolean beside an empty formula)."""
    return bool(stage.formula) and stage.match is not None


def stage_rows(run: RunRecord) -> list[dict[str, str]]:
    """The stage table's cells (`-` where a stage has no formula), then a `backward` row for FLOPs outside
    every forward stage."""
    rows = [{"stage": s.name, "shape": dims(s.shape) + ("" if s.materialised else " *"), "elements": f"{s.elements:,}",
             "bytes": fmt_bytes(s.bytes), "flops": fmt_count(s.flops, "FLOP") if s.flops else "0",
             "instances": str(s.instances), "share": f"{100 * s.share:.1f}%", "headline": s.headline,
             **({"formula": s.formula, "substituted": f"{s.formula_substituted} = {s.formula_elements:,}",
                 "check": "pass" if s.match else "FAIL", "verdict": "ok" if s.match else "MISMATCH"} if checked(s)
                else dict.fromkeys(("formula", "substituted", "check", "verdict"), "-"))}
            for s in run.stages.values()]
    total = run.flops.total
    rest = total - sum(s.flops for s in run.stages.values())  # from the totals: a derived run has it too
    if rest:
        train = run.config.mode == "train"
        what = "the backward pass (train mode): every op of it, where no module runs" if train else "ops outside every forward stage"
        rows.append({**dict.fromkeys(("shape", "elements", "bytes", "instances", "formula", "substituted", "check",
                                      "verdict"), "-"), "stage": BACKWARD, "flops": fmt_count(rest, "FLOP"),
                     "share": f"{100 * (rest / total if total else 0.0):.1f}%", "headline": what})
    return rows


def stage_place(stage: str) -> str:
    """A stage as a place in the pass: "the backward pass", or "no stage" where nothing was allocated."""
    return "the backward pass" if stage == BACKWARD else stage or "no stage"


def peak_location(peak: PeakRecord) -> str:
    """`stage, op #i op in module`; a backward op runs in no module, so it is in the backward pass."""
    if peak.stage == BACKWARD:
        return f"backward pass, op #{peak.op_index} {peak.op}"
    return f"{peak.stage}, op #{peak.op_index} {peak.op} in {module_name(peak.module)}"


def other_peak(run: RunRecord) -> str:
    if run.memory == MemoryView.ALLOCATOR:
        return f"tensors only: {exact_bytes(run.tensor_peak.bytes)} in {stage_place(run.tensor_peak.stage)}"
    return f"allocator peak: {exact_bytes(run.peak.bytes)} in {stage_place(run.peak.stage)}"


def peak_lines(run: RunRecord) -> list[str]:
    p, shown = run.peak, run.peak_view
    if shown.op_index < 0:
        where = "the pass allocates nothing: no op holds memory above the weights and input"
    elif shown.stage == BACKWARD:
        where = f"in the backward pass at op #{shown.op_index} {shown.op}"
    else:
        where = f"in {shown.stage} at op #{shown.op_index} {shown.op} ({module_name(shown.module)})"
    if run.memory == MemoryView.ALLOCATOR:
        inside = f"; {fmt_bytes(p.transient_bytes)} of it held inside that op" if p.transient_bytes else ""
        return [f"peak         {exact_bytes(p.bytes)} allocator peak above weights and input, {where}{inside}",
                f"             {other_peak(run)} (no workspaces, storages at tensor size; --memory tensors to gate on it)"]
    return [f"peak         {exact_bytes(shown.bytes)} of tensors only (no workspaces, storages at tensor size), {where}",
            f"             {other_peak(run)} (what a real run holds)"]


LARGEST = "largest tensor"  # how a headline standing in for a matrix never built begins (analysis/summarize.py)


def fused_notes(run: RunRecord, texts: tuple[str, str]) -> list[str]:
    """What the stages marked `*` (no matrix built: a fused kernel) show, in words: `texts[0]` where a stand-in,
    the stage's largest tensor, is shown (a profile's headline), `texts[1]` where the matrix's own size is."""
    kinds = {s.headline.startswith(LARGEST) for s in run.stages.values() if not s.materialised}
    return [text for stand_in, text in zip((True, False), texts) if stand_in in kinds]


def render_run(run: RunRecord) -> str:
    dtype = run.config.dtype
    rows = [[r[k] for k in ("stage", "shape", "elements", "bytes", "flops", "share", "verdict")] for r in stage_rows(run)]
    header = ["stage", "headline shape", "elements", f"bytes ({dtype})", "FLOPs", "share", "formula"]
    lines = [describe(run), "", *table(header, rows, {2, 3, 4, 5})]
    lines += [f"* attention matrix not materialised (fused kernel): {shown}" for shown in fused_notes(run, (
        "largest tensor of the stage shown", "the matrix it computes shown, at the size it would have"))]
    failed = [c for c in run.checks if not c.passed]
    checks = f"{len(run.checks) - len(failed)}/{len(run.checks)} formulas match" if run.checks else "none (no formulas for this model)"
    lines += [
        "", f"parameters   {run.params:,} ({fmt_bytes(run.param_bytes)} at {dtype})",
        f"FLOPs        {run.flops.total:,} = {fmt_count(run.flops.total, 'FLOP')} "
        f"(conv/linear/matmul, 2 per multiply-add); other arithmetic {fmt_count(run.flops.other_total, 'FLOP')}",
        *peak_lines(run),
        *footprint_lines(run.footprint),
        f"checks       {checks}",
        *(f"  FAIL {c.name}: {c.formula_substituted} = {c.expected:,} but measured {c.measured:,}" for c in failed),
        *([f"profile      {run.profile.note}"] if run.profile.note else []),
        *(["no cost function: " + ", ".join(f"{k} x{v}" for k, v in sorted(run.flops.unsupported.items()))]
          if run.flops.unsupported else []),
    ]
    return "\n".join([*lines, "", *render_measured(run)] if run.measured is not None else lines)


def measured_rows(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per measured run: the peaks, their errors ((predicted - measured) / measured), wall times."""
    return [{
        "t": str(r.frames), "device": m.device, "method": m.method, "measured": f"{m.measured_peak_bytes:,}",
        "allocator": f"{m.predicted_allocator_peak_bytes:,}", "allocator_error": f"{m.peak_error_pct:+.3f}%",
        "tensor": f"{m.predicted_tensor_peak_bytes:,}", "tensor_error": f"{m.tensor_peak_error_pct:+.3f}%",
        "where": f"{m.allocator_peak_op} in {module_name(m.allocator_peak_module)} "
                 f"(+{fmt_bytes(m.workspace_at_peak_bytes)} workspace)",
        "at": f"{m.allocator_peak_stage} ({m.allocator_peak_op} in {module_name(m.allocator_peak_module)})",
        "forward": f"{m.forward_seconds:.3f} s", "rss": fmt_bytes(m.rss_peak_bytes),
        "stage_ms": {s: f"{v * 1000:.1f}" for s, v in m.stage_seconds.items()},
    } for r in runs if (m := r.measured) is not None]


def measured_table(runs: Sequence[RunRecord]) -> list[str]:
    rows = measured_rows(runs)
    if not rows:
        return []
    header = ["t", "measured peak B", "predicted allocator peak B", "error", "tensor peak B", "error", "where"]
    cells = [[r[k] for k in ("t", "measured", "allocator", "allocator_error", "tensor", "tensor_error", "at")] for r in rows]
    return [f"predicted against measured on {rows[0]['device']} ({rows[0]['method']})", *table(header, cells, range(6))]


def render_measured(run: RunRecord) -> list[str]:
    m = run.measured
    if m is None:
        return []
    worst = max(m.headline_error_pct.values(), key=abs, default=0.0)
    rows = [[stage, f"{seconds * 1000:.1f}", f"{100 * seconds / m.forward_seconds:.1f}%" if m.forward_seconds else "-"]
            for stage, seconds in m.stage_seconds.items()]
    return [
        *measured_table([run]), "",
        f"  real run's tensor peak   {m.real_tensor_peak_bytes:,} B (the op recorder on real tensors); "
        f"{fmt_bytes(m.workspace_at_peak_bytes)} held inside {m.allocator_peak_op} at the allocator peak",
        f"  headline tensors         {len(m.headline_error_pct)} stages, largest error {worst:+.3f}%",
        f"  forward pass             {m.forward_seconds:.3f} s (median of {m.repeats}); process RSS "
        f"{fmt_bytes(m.rss_before_bytes)} before, peak {fmt_bytes(m.rss_peak_bytes)}", "",
        *table(["stage", "wall ms (median)", "share"], rows, {1, 2})]


def render_sweep(result: Result) -> str:
    first = result.runs[0]
    view = "allocator" if first.memory == "allocator" else "tensors only"
    # the t^2 stage's column, else the first whose headline is an attention matrix, else the first module stage's
    attention = [name for name, s in first.stages.items() if s.headline.startswith("attention matrix")]
    modules = [name for name in first.stages if name != ROOT_STAGE]
    stage = first.profile.quadratic_stage or next(iter(attention or modules or first.stages), "")
    header = ["t", stage.replace("_", " "), f"bytes ({first.config.dtype})", "FLOPs", f"peak ({view})", "peak stage", "checks"]
    rows = [[str(r.frames), f"{r.stages[stage].elements:,}", fmt_bytes(r.stages[stage].bytes), fmt_count(r.flops.total, "FLOP"),
             fmt_bytes(r.peak_view.bytes), r.peak_view.stage,
             f"{sum(c.passed for c in r.checks)}/{len(r.checks)}" if r.checks else "-"]
            for r in result.runs]
    measured = measured_table(result.runs)
    return "\n".join([describe(first, "sweep"), "", *table(header, rows, range(5)), *(["", *measured] if measured else [])])


def render(report: Report) -> str:
    return render_run(report.run) if len(report.runs) == 1 else render_sweep(report.result)
