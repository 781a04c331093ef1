"""`fit`'s answers as text and JSON: one configuration's sentence, or one row per combination."""

from __future__ import annotations

import json
from collections.abc import Sequence

from dstt_profile.records.runconfig import MAX_FRAMES, RunConfig
from dstt_profile.records.search import FitAnswer
from dstt_profile.render.table import table
from dstt_profile.units import fmt_bytes

_VIEWS = {
    "allocator": "allocator peak above weights and input: storages at real size, op workspaces included",
    "tensors": "tensor peak: live tensors only, no workspaces; weights and input excluded",
}
GATE_TEXT = {
    "footprint": "footprint: weights + input + allocator peak (+ optimizer state in train mode, + the assumed "
    "CUDA context on cuda)",
}


def gate_text(gate: str, memory: str) -> str:
    return GATE_TEXT.get(gate, f"activation peak ({_VIEWS[memory]})")


def _how(answer: FitAnswer) -> str:
    derived = f", {answer.derived} more t derived from them exactly and checked against a trace" if answer.derived else ""
    return f"{answer.runs} fake-tensor traces{derived}"


def render_text(answer: FitAnswer, base: RunConfig) -> str:
    words = [base.res, base.dtype, str(base.arg("attention", "")), base.mode, f"batch {base.batch}"]
    what = f"{' '.join(w for w in words if w)} (gate: {gate_text(answer.gate, base.memory)})"
    budget = f"{fmt_bytes(answer.budget_bytes)} ({answer.budget_bytes:,} B)"
    at = f"{fmt_bytes(answer.peak_bytes)} ({answer.peak_bytes:,} B, in {answer.peak_stage})"
    fp = f"{fmt_bytes(answer.footprint_bytes)} ({answer.footprint_bytes:,} B)"
    if answer.next_peak_bytes is None:
        return (
            f"{what}: every t up to {answer.max_frames}, the largest t this tool accepts, fits in {budget}\n"
            f"  peak at t = {answer.max_frames}: {at}; footprint {fp}\n"
            f"  (the search reached the largest t accepted; {_how(answer)})"
        )
    nxt = f"{fmt_bytes(answer.next_peak_bytes)} ({answer.next_peak_bytes:,} B)"
    nfp = answer.next_footprint_bytes or 0
    next_fp = f"{fmt_bytes(nfp)} ({nfp:,} B)"
    if answer.max_frames == 0:
        return f"{what}: even t = 1 does not fit in {budget}: its peak is {nxt}, its footprint {next_fp}"
    return (
        f"{what}: at most t = {answer.max_frames} frames fit in {budget}\n"
        f"  peak at t = {answer.max_frames}: {at}; footprint {fp}\n"
        f"  peak at t = {answer.max_frames + 1}: {nxt}; footprint {next_fp} ({answer.gate} over budget)\n"
        f"  ({_how(answer)})"
    )


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
    right = set(range(len(COLUMNS), len(header))) | {COLUMNS.index("batch")}
    traces = sum(a.runs for a in answers)
    derived = sum(a.derived for a in answers)
    return "\n".join(
        [
            f"largest t within {fmt_bytes(budget)} ({budget:,} B); gate: {gate_text(gate, memory)}",
            "",
            *table(header, rows, right),
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
