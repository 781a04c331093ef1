"""The terminal summary: the stage table of one run, or one line per t for a sweep."""

from __future__ import annotations

from dstt_profile.records.report import Report
from dstt_profile.records.schema import BACKWARD, MemoryView, Result, RunRecord
from dstt_profile.render.footprint import footprint_lines
from dstt_profile.render.table import table
from dstt_profile.units import fmt_bytes, fmt_count


def describe(run: RunRecord, frames: str | None = None) -> str:
    """The title line of a run (`frames` in place of "t=14": "sweep")."""
    c = run.config
    if run.measured is not None:
        tensors = f"measured: real forward passes on {run.measured.device} beside the prediction"
    else:
        tensors = "real tensors" if c.get("real") else "fake tensors"
    view = "allocator view" if c.get("memory", "allocator") == "allocator" else "tensor view"
    when = frames if frames is not None else f"t={c['frames']}"
    threads = c.get("threads")
    device = f"{c['device']} {threads} threads" if c["device"] == "cpu" and threads else c["device"]
    how = ", ".join(w for w in (run.profile.variant, c["mode"], device, tensors, view) if w)
    return f"{run.title} {when} {c['height']}x{c['width']} batch {c['batch']} {c['dtype']} ({how})"


def backward_flops(run: RunRecord) -> int:
    """FLOPs of the total that no forward stage holds: the backward pass's in train mode, whose ops run
    where no module does (stage `backward`, stages.py); 0 in inference.

    Read from the totals, so a derived run (no per-op records) has it too."""
    return run.flops.total - sum(s.flops for s in run.stages.values())


def backward_share(run: RunRecord) -> float:
    """`backward_flops` as a share of the total: with the stages' shares it adds up to 1."""
    return backward_flops(run) / run.flops.total if run.flops.total else 0.0


def stage_place(stage: str) -> str:
    """A stage as a place in the pass: the backward stage is "the backward pass"; none (nothing was
    allocated) is "no stage"."""
    if not stage:
        return "no stage"
    return "the backward pass" if stage == BACKWARD else stage


def peak_location(stage: str, op_index: int, op: str, module: str) -> str:
    """Where a peak is: `stage, op #i op in module`. A backward op runs in no module, so a peak there is
    located as the backward pass rather than as the root module."""
    if stage == BACKWARD:
        return f"backward pass, op #{op_index} {op}"
    return f"{stage}, op #{op_index} {op} in {module or '<root>'}"


def render_run(run: RunRecord) -> str:
    dtype = run.config["dtype"]
    rows = []
    for s in run.stages.values():
        shape = "x".join(map(str, s.shape)) if s.shape else "-"
        if not s.materialised:
            shape += " *"
        rows.append(
            [
                s.name,
                shape,
                f"{s.elements:,}",
                fmt_bytes(s.bytes),
                fmt_count(s.flops, "FLOP") if s.flops else "0",
                f"{100 * s.share:.1f}%",
                ("ok" if s.match else "MISMATCH") if s.formula else "-",
            ]
        )
    rest = backward_flops(run)
    if rest:
        rows.append([BACKWARD, "-", "-", "-", fmt_count(rest, "FLOP"), f"{100 * backward_share(run):.1f}%", "-"])
    header = ["stage", "headline shape", "elements", f"bytes ({dtype})", "FLOPs", "share", "formula"]
    lines = [describe(run), "", *table(header, rows, {2, 3, 4, 5})]
    if any(not s.materialised for s in run.stages.values()):
        lines.append("* attention matrix not materialised (fused kernel): largest tensor of the stage shown")
    failed = [c for c in run.checks if not c.passed]
    lines += [
        "",
        f"parameters   {run.params:,} ({fmt_bytes(run.param_bytes)} at {dtype})",
        f"FLOPs        {run.flops.total:,} = {fmt_count(run.flops.total, 'FLOP')} "
        f"(conv/linear/matmul, 2 per multiply-add); other arithmetic {fmt_count(run.flops.other_total, 'FLOP')}",
        *peak_lines(run),
        *footprint_lines(run.footprint),
        f"checks       {len(run.checks) - len(failed)}/{len(run.checks)} formulas match"
        if run.checks
        else "checks       none (no formulas for this model)",
    ]
    for c in failed:
        lines.append(f"  FAIL {c.name}: {c.formula_substituted} = {c.expected:,} but measured {c.measured:,}")
    if run.profile.note:
        lines.append(f"profile      {run.profile.note}")
    if run.flops.unsupported:
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(run.flops.unsupported.items()))
        lines.append(f"no cost function: {ops}")
    if run.measured is not None:
        lines += ["", *render_measured(run)]
    return "\n".join(lines)


def peak_lines(run: RunRecord) -> list[str]:
    """The headline peak in the run's view, with the other view beside it and what each includes."""
    p, tp = run.peak, run.tensor_peak
    shown = run.peak_view
    if shown.op_index < 0:
        where = "the pass allocates nothing: no op holds memory above the weights and input"
    elif shown.stage == BACKWARD:
        where = f"in the backward pass at op #{shown.op_index} {shown.op}"
    else:
        where = f"in {shown.stage} at op #{shown.op_index} {shown.op} ({shown.module or '<root>'})"
    if run.view == MemoryView.ALLOCATOR:
        inside = f"; {fmt_bytes(p.transient_bytes)} of it held inside that op" if p.transient_bytes else ""
        return [
            f"peak         {fmt_bytes(p.bytes)} ({p.bytes:,} B) allocator peak above weights and input, {where}{inside}",
            f"             tensors only: {fmt_bytes(tp.bytes)} ({tp.bytes:,} B) in {stage_place(tp.stage)} "
            "(no workspaces, storages at tensor size; --memory tensors to gate on it)",
        ]
    return [
        f"peak         {fmt_bytes(tp.bytes)} ({tp.bytes:,} B) of tensors only (no workspaces, storages "
        f"at tensor size), {where}",
        f"             allocator peak: {fmt_bytes(p.bytes)} ({p.bytes:,} B) in {stage_place(p.stage)} (what a real run holds)",
    ]


def render_measured(run: RunRecord) -> list[str]:
    """Predicted beside measured: the peaks with their errors, then wall time per stage."""
    m = run.measured
    if m is None:
        return []
    lines = [
        *measured_table([run]),
        "",
        f"  real run's tensor peak   {m.real_tensor_peak_bytes:,} B (the op recorder on real tensors); "
        f"{fmt_bytes(m.workspace_at_peak_bytes)} held inside {m.allocator_peak_op} at the allocator peak",
        f"  headline tensors         {_headline_summary(m.headline_error_pct)}",
        f"  forward pass             {m.forward_seconds:.3f} s (median of {m.repeats}); process RSS "
        f"{fmt_bytes(m.rss_before_bytes)} before, peak {fmt_bytes(m.rss_peak_bytes)}",
    ]
    rows = [
        [stage, f"{seconds * 1000:.1f}", f"{100 * seconds / m.forward_seconds:.1f}%" if m.forward_seconds else "-"]
        for stage, seconds in m.stage_seconds.items()
    ]
    lines += ["", *table(["stage", "wall ms (median)", "share"], rows, {1, 2})]
    return lines


def measured_table(runs: list[RunRecord]) -> list[str]:
    """Predicted against measured, one row per t: the measured allocator peak, both predictions with
    their errors ((predicted - measured) / measured), and where the allocator peak is predicted."""
    measured = [r for r in runs if r.measured is not None]
    if not measured:
        return []
    first = measured[0].measured
    assert first is not None
    rows = []
    for r in measured:
        m = r.measured
        assert m is not None
        rows.append(
            [
                str(r.frames),
                f"{m.measured_peak_bytes:,}",
                f"{m.predicted_allocator_peak_bytes:,}",
                f"{m.peak_error_pct:+.3f}%",
                f"{m.predicted_peak_bytes:,}",
                f"{m.tensor_peak_error_pct:+.3f}%",
                f"{m.allocator_peak_stage} ({m.allocator_peak_op} in {m.allocator_peak_module or '<root>'})",
            ]
        )
    header = ["t", "measured peak B", "predicted allocator peak B", "error", "tensor peak B", "error", "where"]
    return [f"predicted against measured on {first.device} ({first.method})", *table(header, rows, {0, 1, 2, 3, 4, 5})]


def _headline_summary(errors: dict[str, float]) -> str:
    worst = max(errors.values(), key=abs, default=0.0)
    return f"{len(errors)} stages, largest error {worst:+.3f}%"


def render_sweep(result: Result) -> str:
    first = result.runs[0]
    dtype = first.config["dtype"]
    view = "allocator" if first.memory == "allocator" else "tensors only"
    # The column of the stage that grows with t^2, else of the first stage.
    stage = first.profile.quadratic_stage or next(iter(first.stages), "")
    header = ["t", stage.replace("_", " "), f"bytes ({dtype})", "FLOPs", f"peak ({view})", "peak stage", "checks"]
    rows = []
    for r in result.runs:
        ta = r.stages[stage]
        passed = sum(c.passed for c in r.checks)
        rows.append(
            [
                str(r.frames),
                f"{ta.elements:,}",
                fmt_bytes(ta.bytes),
                fmt_count(r.flops.total, "FLOP"),
                fmt_bytes(r.peak_view.bytes),
                r.peak_view.stage,
                f"{passed}/{len(r.checks)}",
            ]
        )
    lines = [describe(first, "sweep"), "", *table(header, rows, {0, 1, 2, 3, 4})]
    measured = measured_table(list(result.runs))
    if measured:
        lines += ["", *measured]
    return "\n".join(lines)


def render(report: Report) -> str:
    """The terminal summary of a report: one run's stage table, or one line per t of a sweep."""
    return render_run(report.run) if len(report.runs) == 1 else render_sweep(report.result)
