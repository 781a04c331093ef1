"""Hostile but realistic use: each case here once gave a traceback, a wrong answer or a half-written
file. Bad input must give one line on stderr and exit 2, before anything is written."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from traces import profiled

import dstt_profile
from dstt_profile.analysis import capacity
from dstt_profile.analysis.budgets_file import Budget
from dstt_profile.analysis.report import default_upto
from dstt_profile.cli.main import main
from dstt_profile.errors import UsageError
from dstt_profile.fileio import write_atomic
from dstt_profile.pipeline.search import solve
from dstt_profile.records.budgets import EntryResult, Metric
from dstt_profile.records.runconfig import MAX_FRAMES, MAX_SWEEP, RunConfig
from dstt_profile.records.schema import PeakRecord, Result, RunRecord
from dstt_profile.records.search import FitAnswer
from dstt_profile.render.fit import render_text
from dstt_profile.render.graph import graphml_text
from dstt_profile.render.junit import junit_xml
from dstt_profile.render.xmltext import xml_text
from dstt_profile.units import parse_bytes

PROG = [sys.executable, "-m", "dstt_profile"]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dstt-profile: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def budgets_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "p.toml"
    path.write_text(f'[[budget]]\nname = "t2"\nframes = 2\nres = "48x48"\npeak = "1 GiB"\n{extra}', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def record() -> RunRecord:
    return profiled(RunConfig(frames=2, height=48, width=48), keep_ops=True)


# 1, 12: numbers and frame lists ------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--frames", "²"], ["--batch", "²"], ["--heads", "²"], ["--frames", "1:²"]])
def test_unicode_digits_are_one_line(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "'²' is not a whole number" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_list_and_range_share_one_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = MAX_SWEEP + 1
    listed = ",".join(str(t) for t in range(1, n + 1))
    assert main(["--frames", listed, "--out", str(tmp_path)]) == 2
    assert f"{n} frame counts is more than {MAX_SWEEP} in one run" in one_error_line(capsys)
    assert main(["--frames", f"1:{n}", "--out", str(tmp_path)]) == 2
    assert f"{n} frame counts is more than {MAX_SWEEP} in one run" in one_error_line(capsys)
    with pytest.raises(UsageError, match=f"{n} frame counts is more than {MAX_SWEEP} in one run"):
        dstt_profile.sweep(frames=range(1, n + 1))


# 2: the largest accepted t is served --------------------------------------------------------------------


def test_scaling_plots_stay_within_the_largest_t() -> None:
    assert default_upto(MAX_FRAMES // 2) == MAX_FRAMES  # 2 * 524288
    assert default_upto(MAX_FRAMES // 2 + 1) == MAX_FRAMES  # not 1048578
    assert default_upto(MAX_FRAMES) == MAX_FRAMES


def test_too_large_t_is_refused_before_any_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", str(MAX_FRAMES + 1), "--out", str(tmp_path / "o")]) == 2
    assert f"frame count '{MAX_FRAMES + 1}' is out of range: use 0..{MAX_FRAMES}" in one_error_line(capsys)
    assert not (tmp_path / "o").exists()


# 3, 15, 17, 18: every output path checked before the work ----------------------------------------------


@pytest.mark.parametrize(
    ("option", "target", "message"),
    [
        ("--junit", "DIR", "--junit '{DIR}' is a directory"),
        ("--json", "DIR", "--json '{DIR}' is a directory"),
        ("--junit", "{DIR}/missing/j.xml", "directory '{DIR}/missing' does not exist"),
        ("--junit", "", "--junit: the path is empty"),
        ("--json", "", "--json: the path is empty"),
        ("--baseline", "{DIR}/../p.toml", "is also the budgets file: give it a path of its own"),
        ("--junit", "{DIR}/../p.baseline.json", "--junit '{DIR}/../p.baseline.json' is also the baseline (--update)"),
    ],
)
def test_check_outputs_refused_before_running(
    option: str, target: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = budgets_file(tmp_path)
    out_dir = tmp_path / "DIR"
    out_dir.mkdir()
    monkeypatch.setattr("dstt_profile.cli.check.profile_run", lambda *a, **k: pytest.fail("ran before checking outputs"))
    value = str(out_dir) if target == "DIR" else target.replace("{DIR}", str(out_dir))
    assert main(["check", str(budgets), "--update", f"{option}={value}"]) == 2
    assert message.replace("{DIR}", str(out_dir)) in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DIR", "p.toml"]  # nothing written
    assert budgets.read_text(encoding="utf-8").startswith("[[budget]]")


def test_read_only_baseline_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = budgets_file(tmp_path)
    baseline = tmp_path / "p.baseline.json"
    baseline.write_text("{}", encoding="utf-8")
    baseline.chmod(0o444)
    monkeypatch.setattr("dstt_profile.cli.check.profile_run", lambda *a, **k: pytest.fail("ran before checking outputs"))
    assert main(["check", str(budgets), "--update"]) == 2
    assert f"the baseline (--update) '{baseline}' is read-only" in one_error_line(capsys)
    assert stat.S_IMODE(baseline.stat().st_mode) == 0o444 and baseline.read_text(encoding="utf-8") == "{}"


def test_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o600)
    write_atomic(path, "new")
    assert (path.read_text(encoding="utf-8"), stat.S_IMODE(path.stat().st_mode)) == ("new", 0o600)
    write_atomic(tmp_path / "g.json", "x")
    assert stat.S_IMODE((tmp_path / "g.json").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "g.json"]


def test_main_job_output_name_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dstt_t2_48x48_float32.json").mkdir()
    assert main(["--frames", "2", "--res", "48x48", "--out", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert f"the JSON output '{tmp_path}/dstt_t2_48x48_float32.json' is a directory" in line
    assert [p.name for p in tmp_path.iterdir()] == ["dstt_t2_48x48_float32.json"]


def test_planned_outputs_are_the_files_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The paths checked before the work are exactly the files the main job then writes."""
    from dstt_profile.cli.job import planned_outputs

    assert main(["--frames", "2", "--res", "48x48", "--out", str(tmp_path), "--quiet"]) == 0
    planned = planned_outputs(tmp_path, "dstt_t2_48x48_float32", ("json", "csv"))
    assert sorted(planned.values()) == sorted(tmp_path.iterdir())
    assert len(planned) == 5  # json, csv, html, graphml, dot


@pytest.mark.parametrize("args", [["--out", ""], ["--out", "  "], ["report", "R.json", "--out", ""]])
def test_empty_paths_are_refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert "the path is empty" in one_error_line(capsys)


def test_report_does_not_overwrite_its_input(record: RunRecord, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dstt_t2_48x48_float32.html"  # the name report gives its HTML with --out (the main job's)
    path.write_text(Result((record,)).to_json(), encoding="utf-8")
    before = path.read_text(encoding="utf-8")
    assert main(["report", str(path), "--out", str(tmp_path)]) == 2
    assert "is also the result JSON: give it a path of its own" in one_error_line(capsys)
    assert path.read_text(encoding="utf-8") == before and len(list(tmp_path.iterdir())) == 1


# 4: SIGTERM cleans up like SIGINT ----------------------------------------------------------------------

_TERM_WHILE_WRITING = """
import os, signal, sys
import dstt_profile.fileio as fileio
from dstt_profile.cli.main import main
real_chmod = os.chmod
def chmod_then_term(path, mode):
    real_chmod(path, mode)
    os.kill(os.getpid(), signal.SIGTERM)  # arrives while the temporary file exists, before the rename
fileio.os.chmod = chmod_then_term
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_writing_leaves_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "o"
    done = subprocess.run(
        [sys.executable, "-c", _TERM_WHILE_WRITING, "--frames", "2", "--res", "48x48", "--format", "json",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 143, done.stderr
    assert done.stderr == "dstt-profile: stopped by SIGTERM\n"
    assert list(out.iterdir()) == []


# 5: covered in test_codec.py; 6: XML that parses --------------------------------------------------------


def test_xml_text_replaces_what_xml_forbids() -> None:
    assert xml_text("bad\x01name\x0b\ud800\uffff ok\t\n") == "bad\ufffdname\ufffd\ufffd\ufffd ok\t\n"
    assert xml_text("ünïcödé 𝟙 <&>") == "ünïcödé 𝟙 <&>"


def test_junit_with_control_characters_parses(record: RunRecord) -> None:
    budget = Budget("bad\x01name", RunConfig(frames=2, height=48, width=48), peak=1)
    metric = Metric("bad\x01name", "peak", record.peak.bytes, budget=1)
    root = ET.fromstring(junit_xml([EntryResult(budget.name, budget.run, record, (metric,))]))
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "bad\ufffdname"
    failure = case.find("failure")
    assert failure is not None and failure.text is not None and failure.text.startswith("bad\ufffdname: peak ")


def test_graphml_with_control_characters_parses(record: RunRecord, tmp_path: Path) -> None:
    def renamed(name: str) -> str:
        return name.replace("encoder.0", "encoder.0\x01x", 1) if name.startswith("encoder.0") else name

    modules = tuple(replace(m, name=renamed(m.name)) for m in record.modules)
    ops = tuple(replace(o, module=renamed(o.module)) for o in record.ops)
    text = graphml_text(replace(record, modules=modules, ops=ops))
    root = ET.fromstring(text)
    ids = [n.get("id") for n in root.iter("{http://graphml.graphdrawing.org/xmlns}node")]
    assert "encoder.0\ufffdx" in ids and "encoder.0" not in ids


# 7: fit at the largest t ------------------------------------------------------------------------------


def test_fit_says_the_search_reached_the_largest_t(record: RunRecord) -> None:
    calls: list[int] = []

    def fake(run: RunConfig) -> RunRecord:
        calls.append(run.frames)
        return replace(record, peak=PeakRecord(1000 * run.frames, "ffn", "aten.bmm", 0, ""))

    base = RunConfig(frames=1)
    answer = solve(base, 10**20, fake, gate="peak")
    assert (answer.max_frames, answer.peak_bytes, answer.next_peak_bytes) == (MAX_FRAMES, 1000 * MAX_FRAMES, None)
    assert max(calls) == MAX_FRAMES and answer.limit_reached
    text = render_text(answer, base)
    assert f"every t up to {MAX_FRAMES}, the largest t this tool accepts, fits" in text
    assert "over budget" not in text
    assert json.loads(answer.to_json())["next_peak_bytes"] is None
    below = solve(base, 1000 * 5 + 999, fake, gate="peak")
    assert (below.max_frames, below.next_peak_bytes, below.limit_reached) == (5, 6000, False)


# 8, 9, 10, 11: the edge of torch -----------------------------------------------------------------------


def test_overflowing_batch_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--batch", "1000000000000000", "--frames", "14", "--out", str(tmp_path)]) == 2
    assert "more bytes than a 64-bit size can count" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_huge_frame_size_is_one_line_on_the_terminal(tmp_path: Path) -> None:
    done = subprocess.run(
        [*PROG, "--res", "240000x432000", "--frames", "14", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Storage size calculation overflowed" in done.stderr, done.stderr


_PROFILE_QUIETLY = """
import torch
from dstt_profile.cli.guard import quiet_libraries
with quiet_libraries():
    with torch.profiler.profile(profile_memory=True):
        torch.ones(3) + 1
"""


def test_profiler_status_lines_are_silenced() -> None:
    """What --measure --quiet printed: Kineto's USDT profiler_start/stop lines, once per profiled pass."""
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", _PROFILE_QUIETLY], capture_output=True, text=True, timeout=120, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_real_run_that_cannot_fit_is_refused_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capacity, "available_bytes", lambda: (2**30, "the address space limit (ulimit -v)"))
    monkeypatch.setattr("dstt_profile.pipeline.runs.run_fvcore", lambda run: pytest.fail("ran fvcore"))
    # --quiet: a fresh cache announces its calibrations first (the prediction needs them), then the refusal
    assert main(["--fvcore", "--frames", "200", "--out", str(tmp_path), "--quiet"]) == 2
    line = one_error_line(capsys)
    assert "--fvcore at t=200 needs about " in line and "the address space limit (ulimit -v) leaves 1.0 GiB" in line
    assert list(tmp_path.iterdir()) == []


def test_available_memory_is_read_from_proc(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  8000 kB\nMemAvailable:    2048 kB\n", encoding="ascii")
    room = capacity.available_bytes(meminfo, tmp_path / "absent")
    assert room is not None and room[0] <= 2048 * 1024
    with pytest.raises(UsageError, match=r"^x needs about 3\.0 KiB \(3,072 B: .*leaves 2\.0 KiB"):
        capacity.require_memory(3072, "x", (2048, "available memory (MemAvailable)"))
    capacity.require_memory(2048, "x", (2048, "available memory (MemAvailable)"))


# 13: the API's own errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dstt_profile.sweep(frames=[]), "frames []: no frame counts"),
        (lambda: dstt_profile.sweep(frames=[1.5]), "frames: each frame count 1.5 is not a whole number"),
        (lambda: dstt_profile.sweep(frames=[2, 2]), "frames [2, 2]: a frame count is repeated"),
        (lambda: dstt_profile.sweep(frames="1:x"), "frames '1:x': frame count 'x' is not a whole number"),
        (lambda: dstt_profile.sweep(frames=None), "frames must be an int, text such as '1:32', or ints, got None"),
        (lambda: dstt_profile.profile(res=240), "res must be 'HEIGHTxWIDTH' or (height, width), got 240"),
        (lambda: dstt_profile.profile(res=None), "res must be 'HEIGHTxWIDTH' or (height, width), got None"),
        (lambda: dstt_profile.profile(res="abc"), "res 'abc' is not HEIGHTxWIDTH (for example 240x432)"),
        (lambda: dstt_profile.profile(res=(240, 1.5)), "res width 1.5 is not a whole number"),
        (lambda: dstt_profile.profile(frames=1.5), "frames must be a positive integer, got 1.5"),
    ],
)
def test_api_errors_in_api_terms(call: Any, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        call()
    assert str(caught.value) == message
    assert "--" not in message


# 14: baselines hold whole numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [("1.9", "1.9"), ('"12"', "'12'"), ("true", "True"), ("-1", "-1")])
def test_baseline_figures_must_be_whole(
    value: str, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = budgets_file(tmp_path)
    (tmp_path / "p.baseline.json").write_text(
        '{"schema": "dstt-profile-baseline/1", "entries": {"t2": {"peak": ' + value + "}}}", encoding="utf-8"
    )
    monkeypatch.setattr("dstt_profile.cli.check.profile_run", lambda *a, **k: pytest.fail("ran with a bad baseline"))
    assert main(["check", str(budgets)]) == 2
    line = one_error_line(capsys)
    assert f"baseline entry 't2': figure 'peak' {shown}" in line


# 16: standard output that cannot be written ------------------------------------------------------------


class _Full:
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


def test_full_stdout_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stdout", _Full())
        code = main(["fit", "--budget", "1", "--res", "48x48"])
    assert code == 2
    assert one_error_line(capsys) == "dstt-profile: error: cannot write the output: No space left on device"


def test_dev_full_main_job(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*PROG, "--frames", "2", "--res", "48x48", "--format", "json", "--out", str(tmp_path)],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )
    assert done.returncode == 2
    assert done.stderr == "dstt-profile: error: cannot write the output: No space left on device\n"


# 19: complete lists ------------------------------------------------------------------------------------


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for usage in ("report RESULT.json", "check BUDGETS.toml", "fit --budget SIZE"):
        assert usage in text


def test_unit_list_is_complete(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", "1PB"]) == 2
    assert one_error_line(capsys).endswith("has an unknown unit 'PB' (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    assert (parse_bytes("2TiB"), parse_bytes("3 TB")) == (2 * 2**40, 3 * 10**12)


def test_fit_answer_json_keys() -> None:
    answer = FitAnswer(3, 30, 40, 35, 4, "ffn")
    assert json.loads(answer.to_json()) == {
        "max_frames": 3, "peak_bytes": 30, "next_peak_bytes": 40, "budget_bytes": 35, "gate": "footprint",
        "footprint_bytes": 0, "next_footprint_bytes": None,
    }
