"""Sweeps at scale: records derived without per-op detail equal the summaries of real traces."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dstt_profile.analysis.polysummary import SummaryFamily, comparable
from dstt_profile.analysis.summarize import summarize
from dstt_profile.api import profile_many
from dstt_profile.cli.main import main
from dstt_profile.cli.progress import sweep_progress
from dstt_profile.engine.polytrace import TRACED, TraceFamily
from dstt_profile.engine.trace import trace
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.runs import build_run


@pytest.mark.parametrize(
    "options",
    [{}, {"model_args": {"attention": "sdpa"}}, {"dtype": "int8"}, {"mode": "train", "batch": 2}, {"memory": "tensors"}],
)
def test_derived_summaries_equal_traced_ones(options: dict[str, object]) -> None:
    base = build_run(1, **options)
    summaries = SummaryFamily(TraceFamily(base, subject_for(base)))
    assert summaries.consistent
    for t in (5, 23):  # t=23: the allocator peak has moved from the decoder to the temporal block
        traced = comparable(summarize(trace(base.replace(frames=t), subject_for(base)), keep_ops=False))
        assert summaries.record(t) == traced


def test_derived_peaks_move_exactly() -> None:
    summaries = SummaryFamily(TraceFamily(RunConfig(frames=1), subject_for(RunConfig())))
    t22, t23 = summaries.record(22), summaries.record(23)
    assert t22 is not None and t23 is not None
    # decoder.4.conv until t=22: 107,642,880*22 + 147,456; then the temporal block: 4,147,200*23^2 + 13,639,680*23
    assert (t22.peak.bytes, t22.peak.module) == (2_368_290_816, "decoder.4.conv")
    assert (t23.peak.bytes, t23.peak.stage) == (2_507_581_440, "temporal_attention")
    t4096 = summaries.record(4096)
    assert t4096 is not None
    # 4,147,200*4096^2 + 13,639,680*4096 = 69,578,470,195,200 + 55,868,129,280
    assert t4096.peak.bytes == 69_634_338_324_480
    assert t4096.stages["temporal_attention"].elements == 4096**2 * 720 * 720


def test_a_sweep_keeps_detail_only_where_asked() -> None:
    result = profile_many([RunConfig(frames=t) for t in range(1, 9)], detail="last")
    sources = [r.extra["source"] for r in result.runs]
    # traced: t = 1, the bases 2, 3, 4 and the largest t, 8 (the check); derived: 5, 6, 7
    assert [s == TRACED for s in sources] == [True, True, True, True, False, False, False, True]
    assert [bool(r.ops) for r in result.runs] == [False] * 7 + [True]  # per-op detail: the last run only
    assert all(not r.modules for r in result.runs[4:7])  # derived runs carry no per-module detail either
    every = profile_many([RunConfig(frames=t) for t in range(1, 9)], detail="traced")
    assert [bool(r.ops) for r in every.runs] == [True, True, True, True, False, False, False, True]
    assert [comparable(r) for r in every.runs] == [comparable(r) for r in result.runs]


def test_sweep_json_stays_small(tmp_path: Path) -> None:
    assert main(["--frames", "1:64", "--out", str(tmp_path), "--format", "json", "--quiet"]) == 0
    path = next(tmp_path.glob("*.json"))
    assert path.stat().st_size < 2_000_000  # 64 runs; per-op detail for t=64 alone
    runs = json.loads(path.read_text())["runs"]
    assert len(runs) == 64 and sum(1 for r in runs if r["ops"]) == 1


def test_progress_in_a_log_is_a_line_every_few_seconds() -> None:
    clock = iter([0.0, 1.0, 2.0, 3.5, 4.0, 9.0]).__next__
    out = io.StringIO()
    show = sweep_progress(out, tty=False, every=3.0, clock=clock)
    run = RunConfig(frames=1)
    for done in (1, 2, 3, 4, 5):
        show(done, 5, run)
    # calls at 1.0 and 2.0 are within 3 s of the start; 3.5 writes; 4.0 does not; the last always writes
    assert out.getvalue().splitlines() == [
        "sweep: 3/5 runs done (t=1), 3.5 s",
        "sweep: 5/5 runs done (t=1), 9.0 s",
    ]


def test_a_long_sweep_report_shows_64_runs_and_says_so() -> None:
    from dstt_profile.render.html import shown_runs

    runs = profile_many([RunConfig(frames=t) for t in range(1, 201)], keep_ops=False).runs
    shown = shown_runs(runs, runs[100])
    # 64 of 200, evenly spaced: the first, the last and the run the report details among them
    assert len(shown) == 64 and shown[0].frames == 1 and shown[-1].frames == 200 and runs[100] in shown
    assert [r.frames for r in shown] == sorted(r.frames for r in shown)
    assert shown_runs(runs[:10], runs[3]) == list(runs[:10])  # short sweeps: every run
