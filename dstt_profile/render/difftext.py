"""The terminal view of `dstt-profile diff`: the t values compared, then per pair configuration,
totals, stages, op families, divergence, then the gate's verdict."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from dstt_profile.records.diff import Change, Comparison, Failure, RunDiff
from dstt_profile.render.table import table


def signed(change: Change) -> str:
    """'+147,456 (+0.010%)', '0', '+1,024 (from 0)': a growth in % only from a figure above 0."""
    if change.delta == 0:
        return "0"
    growth = change.growth
    pct = f"from {change.a:,}" if growth is None else f"{float(growth) * 100:+.3f}%"
    return f"{change.delta:+,} ({pct})"


def _setting(value: Any) -> str:
    """A setting's value as the configuration line shows it: None as null, a missing one as (not set)."""
    return "null" if value is None else str(value)


def _frames(values: Sequence[int]) -> str:
    return ",".join(map(str, values))


def unpaired_lines(comparison: Comparison) -> list[str]:
    """What was left out: the t values only one result holds."""
    lines = []
    for side, values in (("A", comparison.only_a), ("B", comparison.only_b)):
        if values:
            lines.append(f"not compared: t={_frames(values)} only in {side} (no run at that t in the other result)")
    return lines


def _cells(change: Change) -> list[str]:
    return [f"{change.a:,}", f"{change.b:,}", signed(change)]


def _run_lines(d: RunDiff) -> list[str]:
    head = f"t={d.frames_a}" if d.frames_a == d.frames_b else f"t={d.frames_a} -> t={d.frames_b}"
    lines = [head]
    if d.config:
        lines.append("  configuration: " + "; ".join(f"{k} {_setting(a)} -> {_setting(b)}" for k, a, b in d.config))
    else:
        lines.append("  configuration: the same")
    lines += ["", *("  " + row for row in table(["total", "A", "B", "change"], [[c.name, *_cells(c)] for c in d.totals], {1, 2, 3}))]
    at_a, at_b = d.peak_at
    lines.append(f"  peak at: {at_a}" + ("" if at_a == at_b else f" -> {at_b}"))
    rows = []
    for stage, (nbytes, flops, peak) in d.stages.items():
        if any(c.delta for c in (nbytes, flops, peak)):
            rows.append([stage, f"{nbytes.b:,}", signed(nbytes), f"{flops.b:,}", signed(flops), f"{peak.b:,}", signed(peak)])
    lines.append("")
    if rows:
        header = ["stage", "bytes (B)", "change", "FLOPs (B)", "change", "stage peak (B)", "change"]
        lines += ["  " + row for row in table(header, rows, {1, 2, 3, 4, 5, 6})]
    else:
        lines.append("  stages: every stage's bytes, FLOPs and peak the same")
    fam_rows = []
    for name, changes in d.families.items():
        if any(c.delta for c in changes):
            fam_rows.append([name, *(cell for c in changes for cell in (f"{c.b:,}", signed(c)))])
    lines.append("")
    if fam_rows:
        width = len(fam_rows[0])
        names = ["FLOPs (B)", "change", "calls (B)", "change", "allocated (B)", "change"][: width - 1]
        lines += ["  " + row for row in table(["op family", *names], fam_rows, set(range(1, width)))]
    else:
        lines.append("  op families: every family the same")
    lines.append("")
    if d.ops_a == 0 or d.ops_b == 0:
        lines.append("  ops: not compared (a result without per-op records)")
    elif d.divergence is None:
        lines.append(f"  ops: the same {d.ops_a} ops in the same order, each allocating the same bytes")
    else:
        v = d.divergence
        what = "run different ops" if v.kind == "structure" else "run the same ops; the bytes differ"
        lines.append(f"  first divergence at op #{v.index} ({what}; A has {d.ops_a} ops, B has {d.ops_b}):")
        lines.append(f"    A: {v.a or '(ended)'}")
        lines.append(f"    B: {v.b or '(ended)'}")
    return lines


def failure_lines(failed: Sequence[Failure], allowed: str) -> list[str]:
    """The gate's FAIL lines: one per figure that grew too much, then one per result for the t values
    it alone holds."""
    lines = []
    unpaired: dict[str, list[int]] = {}
    for f in failed:
        if f.change is None:
            unpaired.setdefault(f.name, []).append(f.frames)
        else:
            lines.append(f"FAIL t={f.frames} {f.name} grew {signed(f.change)}: more than {allowed}")
    for name, frames in unpaired.items():
        lines.append(f"FAIL t={_frames(frames)} {name}: not compared, and a gate passes only on everything it was given")
    return lines


def render(
    diffs: Sequence[RunDiff],
    name_a: str,
    name_b: str,
    limit: Fraction | None,
    failed: Sequence[Failure],
) -> str:
    """The whole diff; `diffs` a `Comparison` (diff_results) also names the t values left out."""
    lines = [f"diff A={name_a} B={name_b}"]
    if isinstance(diffs, Comparison) and not diffs.complete:
        lines += [f"compared: t={_frames([d.frames_a for d in diffs])}", *unpaired_lines(diffs)]
    for d in diffs:
        lines += ["", *_run_lines(d)]
    if limit is not None:
        lines.append("")
        allowed = f"+{float(limit) * 100:g}%"
        if not failed:
            lines.append(f"max growth {allowed}: within (peak, FLOPs and every stage's bytes)")
        lines += failure_lines(failed, allowed)
    return "\n".join(lines)
