"""`fit`'s answers as text and JSON: one configuration's sentence, or one row per combination."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dstt_profile.records.runconfig import MAX_FRAMES, RunConfig
from dstt_profile.records.search import FitAnswer
from dstt_profile.render.table import exact_bytes, table
from dstt_profile.units import fmt_bytes

_VIEWS = {
    "allocator": "allocator peak above weights and input: storages at real size, op workspaces included",
    "tensors": "tensor peak: live tensors only, no workspaces; weights and input excluded",
}
GATE_TEXT = {"footprint": "footprint: weights + input + allocator peak (+ optimizer state in train mode, "
             "+ the assumed CUDA context on cuda)"}


def gate_text(gate: str, memory: str) -> str:
    return GATE_TEXT.get(gate, f"activation peak ({_VIEWS[memory]})")


def render_text(answer: FitAnswer, base: RunConfig) -> str:
    words = [base.res, base.dtype, str(base.arg("attention", "")), base.mode, f"batch {base.batch}"]
    what = f"{' '.join(w for w in words if w)} (gate: {gate_text(answer.gate, base.memory)})"
    budget = exact_bytes(answer.budget_bytes)
    derived = f", {answer.derived} more t derived from them exactly and checked against a trace" if answer.derived else ""
    how = f"{answer.runs} fake-tensor traces{derived}"
    at = f"{fmt_bytes(answer.peak_bytes)} ({answer.peak_bytes:,} B, in {answer.peak_stage}); footprint {exact_bytes(answer.footprint_bytes)}"
    if answer.next_peak_bytes is None:
        return (f"{what}: every t up to {answer.max_frames}, the largest t this tool accepts, fits in {budget}\n"
                f"  peak at t = {answer.max_frames}: {at}\n  (the search reached the largest t accepted; {how})")
    nxt, next_fp = exact_bytes(answer.next_peak_bytes), exact_bytes(answer.next_footprint_bytes or 0)
    if answer.max_frames == 0:
        return f"{what}: even t = 1 does not fit in {budget}: its peak is {nxt}, its footprint {next_fp}"
    return (f"{what}: at most t = {answer.max_frames} frames fit in {budget}\n  peak at t = {answer.max_frames}: {at}\n"
            f"  peak at t = {answer.max_frames + 1}: {nxt}; footprint {next_fp} ({answer.gate} over budget)\n  ({how})")


def headroom(answer: FitAnswer) -> str:
    """What the gated figure leaves of the budget at the largest t: '1.2 GiB (5.0%)'; '-' when none fits."""
    if answer.max_frames == 0:
        return "-"
    left = answer.budget_bytes - answer.gated_bytes
    return f"{fmt_bytes(left)} ({100 * left / answer.budget_bytes if answer.budget_bytes else 0.0:.1f}%)"


def _config(answer: FitAnswer) -> dict[str, Any]:
    run = answer.run
    assert run is not None
    return {"res": run.res, "dtype": run.dtype, "attention": run.arg("attention"), "mode": run.mode, "batch": run.batch}


def _row(answer: FitAnswer) -> list[str]:
    config = ["-" if v is None else str(v) for v in _config(answer).values()]
    nxt = answer.next_footprint_bytes
    if answer.max_frames == 0:
        return [*config, "0", "-", "-", "-", f"t=1: {fmt_bytes(nxt or 0)}"]
    return [*config, str(answer.max_frames), fmt_bytes(answer.peak_bytes), fmt_bytes(answer.footprint_bytes),
            headroom(answer), fmt_bytes(nxt) if nxt is not None else f"(t <= {MAX_FRAMES})"]


def render_grid(answers: Sequence[FitAnswer], budget: int, gate: str, memory: str) -> str:
    header = ["res", "dtype", "attention", "mode", "batch", "max t", "peak", "footprint", f"headroom ({gate})", "t+1 footprint"]
    traces, derived = sum(a.runs for a in answers), sum(a.derived for a in answers)
    return "\n".join([
        f"largest t within {exact_bytes(budget)}; gate: {gate_text(gate, memory)}",
        "",
        *table(header, [_row(a) for a in answers], range(4, len(header))),
        "",
        f"peak: the activation peak at max t; footprint: the whole memory the pass needs there; "
        f"{traces} fake-tensor traces, {derived} more t derived from them exactly",
    ])


def grid_json(answers: Sequence[FitAnswer]) -> str:
    """A list: each combination's configuration, then its answer's figures (FitAnswer.to_dict)."""
    return json.dumps([{**_config(a), **a.to_dict()} for a in answers], indent=1)
