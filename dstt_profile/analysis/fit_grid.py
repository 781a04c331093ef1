"""`dstt-profile fit` over many configurations: one table row (or JSON object) per combination."""

from __future__ import annotations

import json
from collections.abc import Sequence

from dstt_profile.analysis.fit import FitAnswer, gate_text
from dstt_profile.records.runconfig import MAX_FRAMES
from dstt_profile.units import fmt_bytes

COLUMNS = ("res", "dtype", "attention", "mode", "batch")


def headroom(answer: FitAnswer) -> str:
    """What the gated figure leaves of the budget at the largest t: '1.2 GiB (5.0%)'; '-' when none fits."""
    if answer.max_frames == 0:
        return "-"
    left = answer.budget_bytes - answer.gated_bytes
    share = 100 * left / answer.budget_bytes if answer.budget_bytes else 0.0
    return f"{fmt_bytes(left)} ({share:.1f}%)"


def _row(answer: FitAnswer) -> list[str]:
    run = answer.run
    assert run is not None
    config = [run.res, run.dtype, str(run.arg("attention", "-")), run.mode, str(run.batch)]
    if answer.max_frames == 0:
        first = answer.next_footprint_bytes or 0
        return [*config, "0", "-", "-", "-", f"t=1: {fmt_bytes(first)}"]
    nxt = answer.next_footprint_bytes
    return [
        *config,
        str(answer.max_frames),
        fmt_bytes(answer.peak_bytes),
        fmt_bytes(answer.footprint_bytes),
        headroom(answer),
        f"{fmt_bytes(nxt)}" if nxt is not None else f"(t <= {MAX_FRAMES})",
    ]


def render_grid(answers: Sequence[FitAnswer], budget: int, gate: str, memory: str) -> str:
    header = [*COLUMNS, "max t", "peak", "footprint", f"headroom ({gate})", "t+1 footprint"]
    rows = [_row(a) for a in answers]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = set(range(len(COLUMNS), len(header))) | {COLUMNS.index("batch")}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    traces = sum(a.runs for a in answers)
    derived = sum(a.derived for a in answers)
    return "\n".join(
        [
            f"largest t within {fmt_bytes(budget)} ({budget:,} B); gate: {gate_text(gate, memory)}",
            "",
            line(header),
            "  ".join("-" * w for w in widths),
            *(line(r) for r in rows),
            "",
            f"peak: the activation peak at max t; footprint: the whole memory the pass needs there; "
            f"{traces} fake-tensor traces, {derived} more t derived from them exactly",
        ]
    )


def grid_json(answers: Sequence[FitAnswer]) -> str:
    """A list: each combination's configuration, then its answer's figures (FitAnswer.to_dict)."""
    out = []
    for a in answers:
        run = a.run
        assert run is not None
        config = {"res": run.res, "dtype": run.dtype, "attention": run.arg("attention"), "mode": run.mode, "batch": run.batch}
        out.append({**config, **a.to_dict()})
    return json.dumps(out, indent=1)
