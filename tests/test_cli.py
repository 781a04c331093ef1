"""The command line: the main job's files, and one line plus exit code 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dstt_profile.cli.main import main
from dstt_profile.records.runconfig import parse_frames
from dstt_profile.records.schema import Result


def test_main_job_writes_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "14", "--res", "240x432", "--out", str(tmp_path), "--format", "json,csv"]) == 0
    out = capsys.readouterr().out
    assert "temporal_attention  1x4x4x2520x2520  101,606,400" in out
    assert "15/15 formulas match" in out
    data = json.loads((tmp_path / "dstt_t14_240x432_float32.json").read_text())
    assert data["schema"] == "dstt-profile/2"
    run = data["runs"][0]
    assert run["params"] == 34_529_155
    assert run["config"]["frames"] == 14
    peak = run["peak"]
    # allocator view (the headline): 107,642,880*14 + 147,456, in decoder.4.conv (tests/test_allocator.py)
    assert (peak["bytes"], peak["stage"], peak["op"], peak["module"]) == (
        1_507_147_776,
        "decoder",
        "aten.convolution",
        "decoder.4.conv",
    )
    # tensor view beside it: 2*406,425,600 + 46,448,640 + 7*20,643,840 (tests/test_engine.py)
    tensor = run["tensor_peak"]
    assert (tensor["bytes"], tensor["stage"], tensor["op"], tensor["module"]) == (
        1_003_806_720,
        "temporal_attention",
        "aten.bmm",
        "transformer.2.attention.attention",
    )
    assert "allocator peak" in out and "tensors only: 957.3 MiB" in out
    ta = run["stages"]["temporal_attention"]
    assert (ta["shape"], ta["elements"], ta["formula"]) == ([1, 4, 4, 2520, 2520], 101_606_400, "k*t^2*n^2/s^2")
    assert (ta["formula_substituted"], ta["formula_elements"], ta["match"]) == ("t^2*720*720", 101_606_400, True)
    assert set(run["flops"]["by_op"]) == {"aten.convolution", "aten.addmm", "aten.bmm"}
    assert Result.from_dict(data).runs[0].stages["ffn"].elements == 20_643_840  # 14*720*2048
    csv_lines = (tmp_path / "dstt_t14_240x432_float32.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 9  # header + one row per stage
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_sweep_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "1,2,3", "--out", str(tmp_path), "--format", "json", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    result = Result.load(tmp_path / "dstt_t1-3_240x432_float32.json")
    assert [r.stages["temporal_attention"].elements for r in result.runs] == [518_400, 2_073_600, 4_665_600]
    # t^2*720*720 at t = 1, 2, 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--res", "241x432"], "height 241 is not divisible by 4; nearest valid: 240, 256"),
        (["--res", "abc"], "--res 'abc' is not HEIGHTxWIDTH"),
        (["--frames", "0"], "frame counts start at 1"),
        (["--frames", "5:1"], "the range ends (1) before it starts (5)"),
        (["--frames", "x"], "is not a whole number"),
        (["--dtype", "float7"], "dtype 'float7' is not one of float32, float16, bfloat16, int8"),
        (["--attention", "flash"], "attention 'flash' is not one of matmul, sdpa"),
        (["--batch", "0"], "--batch must be at least 1, got '0'"),
        (["--format", "pdf"], "--format 'pdf': choose from json, csv"),
        (["--nope"], "unrecognized arguments: --nope"),
        (["--out", "/proc/forbidden"], "cannot create output directory"),
    ],
)
def test_bad_input_one_line_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--out", str(tmp_path / "out"), *args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("dstt-profile: error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unwritable_out_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--out", str(blocker)]) == 2
    assert "dstt-profile: error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "frames"),
    [("14", (14,)), ("1,2,4,8", (1, 2, 4, 8)), ("1:4", (1, 2, 3, 4)), ("1:64:8", (1, 9, 17, 25, 33, 41, 49, 57))],
)
def test_frames_syntax(text: str, frames: tuple[int, ...]) -> None:
    assert parse_frames(text) == frames
