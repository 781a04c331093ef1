"""The terminal view of `dstt-profile diff`."""

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
    pct = f"from {change.a:,}" if change.growth is None else f"{float(change.growth) * 100:+.3f}%"
    return f"{change.delta:+,} ({pct})"


def _setting(value: Any) -> str:
    return "null" if value is None else str(value)


def _frames(values: Sequence[int]) -> str:
    return ",".join(map(str, values))


def _changed(header: list[str], rows: list[list[str]], same: str) -> list[str]:
    """The rows' table indented, numbers right; `same` where no row changed."""
    return ["  " + row for row in table(header, rows, range(1, len(header)))] if rows else [f"  {same}"]


def _run_lines(d: RunDiff) -> list[str]:
    config = "; ".join(f"{k} {_setting(a)} -> {_setting(b)}" for k, a, b in d.config) or "the same"
    at_a, at_b = d.peak_at
    stages = [[stage, *(cell for c in changes for cell in (f"{c.b:,}", signed(c)))]
              for stage, changes in d.stages.items() if any(c.delta for c in changes)]
    families = [[name, *(cell for c in changes for cell in (f"{c.b:,}", signed(c)))]
                for name, changes in d.families.items() if any(c.delta for c in changes)]
    width = len(families[0]) if families else 1
    lines = [
        f"t={d.frames_a}" if d.frames_a == d.frames_b else f"t={d.frames_a} -> t={d.frames_b}",
        f"  configuration: {config}",
        "",
        *("  " + row for row in table(["total", "A", "B", "change"], [[c.name, f"{c.a:,}", f"{c.b:,}", signed(c)]
                                                                     for c in d.totals], {1, 2, 3})),
        f"  peak at: {at_a}" + ("" if at_a == at_b else f" -> {at_b}"),
        "",
        *_changed(["stage", "bytes (B)", "change", "FLOPs (B)", "change", "stage peak (B)", "change"], stages,
                  "stages: every stage's bytes, FLOPs and peak the same"),
        "",
        *_changed(["op family", *["FLOPs (B)", "change", "calls (B)", "change", "allocated (B)", "change"][: width - 1]],
                  families, "op families: every family the same"),
        "",
    ]
    if d.ops_a == 0 or d.ops_b == 0:
        return [*lines, "  ops: not compared (a result without per-op records)"]
    if d.divergence is None:
        return [*lines, f"  ops: the same {d.ops_a} ops in the same order, each allocating the same bytes"]
    v = d.divergence
    what = "run different ops" if v.kind == "structure" else "run the same ops; the bytes differ"
    return [*lines, f"  first divergence at op #{v.index} ({what}; A has {d.ops_a} ops, B has {d.ops_b}):",
            f"    A: {v.a or '(ended)'}", f"    B: {v.b or '(ended)'}"]


def failure_lines(failed: Sequence[Failure], allowed: str) -> list[str]:
    """The gate's FAIL lines: a figure that grew too much, then a result's t values that it alone holds."""
    unpaired: dict[str, list[int]] = {}
    for f in failed:
        if f.change is None:
            unpaired.setdefault(f.name, []).append(f.frames)
    return [*(f"FAIL t={f.frames} {f.name} grew {signed(f.change)}: more than {allowed}" for f in failed if f.change is not None),
            *(f"FAIL t={_frames(frames)} {name}: not compared, and a gate passes only on everything it was given"
              for name, frames in unpaired.items())]


def render(diffs: Sequence[RunDiff], name_a: str, name_b: str, limit: Fraction | None, failed: Sequence[Failure]) -> str:
    """The whole diff; `diffs` a `Comparison` (diff_results) also names the t values left out."""
    lines = [f"diff A={name_a} B={name_b}"]
    if isinstance(diffs, Comparison) and not diffs.complete:
        lines.append(f"compared: t={_frames([d.frames_a for d in diffs])}")
        lines += [f"not compared: t={_frames(values)} only in {side} (no run at that t in the other result)"
                  for side, values in (("A", diffs.only_a), ("B", diffs.only_b)) if values]
    for d in diffs:
        lines += ["", *_run_lines(d)]
    if limit is not None:
        allowed = f"+{float(limit) * 100:g}%"
        lines += ["", *([] if failed else [f"max growth {allowed}: within (peak, FLOPs and every stage's bytes)"]),
                  *failure_lines(failed, allowed)]
    return "\n".join(lines)
