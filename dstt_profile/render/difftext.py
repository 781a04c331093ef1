"""The terminal view of `dstt-profile diff`: configuration, totals, stages, op families, divergence."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from dstt_profile.analysis.diff import Change, RunDiff
from dstt_profile.render.terminal import _table


def signed(change: Change) -> str:
    """'+147,456 (+0.010%)', '0', '+1,024 (new)'."""
    if change.delta == 0:
        return "0"
    growth = change.growth
    pct = "new" if growth is None else f"{float(growth) * 100:+.3f}%"
    return f"{change.delta:+,} ({pct})"


def _cells(change: Change) -> list[str]:
    return [f"{change.a:,}", f"{change.b:,}", signed(change)]


def _run_lines(d: RunDiff) -> list[str]:
    head = f"t={d.frames_a}" if d.frames_a == d.frames_b else f"t={d.frames_a} -> t={d.frames_b}"
    lines = [head]
    if d.config:
        lines.append("  configuration: " + "; ".join(f"{k} {a} -> {b}" for k, a, b in d.config))
    else:
        lines.append("  configuration: the same")
    lines += ["", *("  " + row for row in _table(["total", "A", "B", "change"], [[c.name, *_cells(c)] for c in d.totals], {1, 2, 3}))]
    at_a, at_b = d.peak_at
    lines.append(f"  peak at: {at_a}" + ("" if at_a == at_b else f" -> {at_b}"))
    rows = []
    for stage, (nbytes, flops, peak) in d.stages.items():
        if any(c.delta for c in (nbytes, flops, peak)):
            rows.append([stage, f"{nbytes.b:,}", signed(nbytes), f"{flops.b:,}", signed(flops), f"{peak.b:,}", signed(peak)])
    lines.append("")
    if rows:
        header = ["stage", "bytes (B)", "change", "FLOPs (B)", "change", "stage peak (B)", "change"]
        lines += ["  " + row for row in _table(header, rows, {1, 2, 3, 4, 5, 6})]
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
        lines += ["  " + row for row in _table(["op family", *names], fam_rows, set(range(1, width)))]
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


def render(
    diffs: Sequence[RunDiff],
    name_a: str,
    name_b: str,
    limit: Fraction | None,
    failed: Sequence[tuple[RunDiff, str, Change]],
) -> str:
    lines = [f"diff A={name_a} B={name_b}"]
    for d in diffs:
        lines += ["", *_run_lines(d)]
    if limit is not None:
        lines.append("")
        allowed = f"+{float(limit) * 100:g}%"
        if not failed:
            lines.append(f"max growth {allowed}: within (peak, FLOPs and every stage's bytes)")
        for d, name, change in failed:
            lines.append(f"FAIL t={d.frames_b} {name} grew {signed(change)}: more than {allowed}")
    return "\n".join(lines)
