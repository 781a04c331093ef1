"""`dstt-profile fit`: the largest clip length t whose peak stays within a memory budget.

Found by search over fake-tensor runs (each peak exact, nothing extrapolated): t = 1, 2, 4, ... until
a run exceeds the budget, then binary search between the last fit and the first miss. Assumes the peak
grows with t (it does: every stage is linear or quadratic in t with positive coefficients).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dstt_profile.cli import UsageParser, positive_int
from dstt_profile.errors import UsageError
from dstt_profile.records import RunRecord
from dstt_profile.runconfig import MAX_FRAMES, RunConfig, parse_res
from dstt_profile.units import BYTE_UNIT_LIST, fmt_bytes, parse_bytes

PeakOf = Callable[[int], int]  # t -> peak bytes


@dataclass(frozen=True)
class FitAnswer:
    max_frames: int  # 0 when even t = 1 does not fit
    peak_bytes: int  # at max_frames (0 when max_frames is 0)
    next_peak_bytes: int | None  # at max_frames + 1; None when max_frames is the largest t accepted
    budget_bytes: int
    runs: int  # fake-tensor runs the search made
    peak_stage: str = ""  # stage holding the peak at max_frames

    @property
    def limit_reached(self) -> bool:
        """The search stopped at the largest t the tool accepts, not at the budget."""
        return self.next_peak_bytes is None

    def to_json(self) -> str:
        keys = ("max_frames", "peak_bytes", "next_peak_bytes", "budget_bytes")  # next: null at the limit
        return json.dumps({k: getattr(self, k) for k in keys})


def search_max(peak: PeakOf, budget: int, limit: int = MAX_FRAMES) -> int:
    """Largest t in [0, limit] with peak(t) <= budget (0: none), assuming peak grows with t."""
    if peak(1) > budget:
        return 0
    lo, hi = 1, 2  # peak(lo) fits; probe hi
    while hi <= limit and peak(hi) <= budget:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if peak(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def _profile(run: RunConfig) -> RunRecord:
    from dstt_profile.api import profile_run

    return profile_run(run, keep_ops=False)


def solve(base: RunConfig, budget: int, profile: Callable[[RunConfig], RunRecord] | None = None) -> FitAnswer:
    """Search t for `base` (its frames ignored); every figure comes from a fake-tensor run."""
    run = profile or _profile
    seen: dict[int, RunRecord] = {}

    def record(t: int) -> RunRecord:
        if t not in seen:
            seen[t] = run(base.replace(frames=t))
        return seen[t]

    best = search_max(lambda t: record(t).peak_view.bytes, budget, MAX_FRAMES)
    at = record(best) if best else None
    return FitAnswer(
        max_frames=best,
        peak_bytes=at.peak_view.bytes if at else 0,
        next_peak_bytes=record(best + 1).peak_view.bytes if best < MAX_FRAMES else None,
        budget_bytes=budget,
        runs=len(seen),
        peak_stage=at.peak_view.stage if at else "",
    )


def max_frames(budget_bytes: int | str, res: str | tuple[int, int] = "240x432", **options: Any) -> int:
    """For notebooks: the largest t whose peak fits `budget_bytes` ('16GiB' or an int); options are
    RunConfig fields (dtype, attention, mode, batch, ...)."""
    from dstt_profile.api import run_config

    return solve(run_config(1, res, **options), parse_bytes(budget_bytes)).max_frames


def _parser() -> argparse.ArgumentParser:
    p = UsageParser(prog="dstt-profile fit", description="Largest t whose peak stays within a memory budget.")
    p.add_argument(
        "--budget", required=True, help=f"memory budget: a number with a unit ({BYTE_UNIT_LIST}), e.g. 16GiB, or bytes"
    )
    p.add_argument("--res", default="240x432", help="frame size HEIGHTxWIDTH (default 240x432)")
    p.add_argument("--dtype", default="float32", help="float32, float16, bfloat16 or int8")
    p.add_argument("--attention", default="matmul", help="matmul or sdpa")
    p.add_argument("--mode", default="inference", help="inference or train")
    p.add_argument("--batch", default="1", help="clips per batch (default 1)")
    p.add_argument("--device", default="cpu", help="device type traced: cpu or cuda")
    p.add_argument(
        "--memory",
        default="allocator",
        help="peak to fit: allocator (default: storages at real size, op workspaces) or tensors (tensors only)",
    )
    p.add_argument("--format", default="text", help="text or json")
    return p


def _base(args: argparse.Namespace) -> RunConfig:
    if args.format not in ("text", "json"):
        raise UsageError(f"--format {args.format!r}: choose text or json")
    height, width = parse_res(args.res)
    return RunConfig(
        frames=1,
        height=height,
        width=width,
        batch=positive_int("batch", args.batch),
        dtype=args.dtype,
        attention=args.attention,
        mode=args.mode,
        device=args.device,
        memory=args.memory,
    )


_VIEWS = {
    "allocator": "allocator peak above weights and input: storages at real size, op workspaces included",
    "tensors": "tensor peak: live tensors only, no workspaces; weights and input excluded",
}


def render_text(answer: FitAnswer, base: RunConfig) -> str:
    what = f"{base.res} {base.dtype} {base.attention} {base.mode} batch {base.batch} ({_VIEWS[base.memory]})"
    budget = f"{fmt_bytes(answer.budget_bytes)} ({answer.budget_bytes:,} B)"
    at = f"{fmt_bytes(answer.peak_bytes)} ({answer.peak_bytes:,} B, in {answer.peak_stage})"
    if answer.next_peak_bytes is None:
        return (
            f"{what}: every t up to {answer.max_frames}, the largest t this tool accepts, fits in {budget}\n"
            f"  peak at t = {answer.max_frames}: {at}\n"
            f"  (the search reached the largest t accepted; {answer.runs} fake-tensor runs, exact)"
        )
    nxt = f"{fmt_bytes(answer.next_peak_bytes)} ({answer.next_peak_bytes:,} B)"
    if answer.max_frames == 0:
        return f"{what}: even t = 1 does not fit in {budget}: its peak is {nxt}"
    return (
        f"{what}: at most t = {answer.max_frames} frames fit in {budget}\n"
        f"  peak at t = {answer.max_frames}: {at}\n"
        f"  peak at t = {answer.max_frames + 1}: {nxt} (over budget)\n"
        f"  ({answer.runs} fake-tensor runs, exact)"
    )


def fit_command(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    budget = parse_bytes(args.budget)
    base = _base(args)
    answer = solve(base, budget)
    print(answer.to_json() if args.format == "json" else render_text(answer, base))
    return 0 if answer.max_frames > 0 else 1
