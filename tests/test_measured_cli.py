"""Measured mode on the command line: the predicted-vs-measured table for any number of t, a header
that says measured, progress on stderr (none with --quiet), and --repeats only with --measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from dstt_profile.cli.main import main

TINY = ["--res", "48x96", "--format", "json"]  # n = (48/12)*(96/12) = 32 tokens: real passes take milliseconds


def test_two_t_table_header_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "1,2", "--measure", "--repeats", "1", "--out", str(tmp_path), *TINY]) == 0
    out, err = capsys.readouterr()
    header = out.splitlines()[0]
    assert "measured: real forward passes on cpu beside the prediction" in header and "fake tensors" not in header
    assert "predicted against measured on cpu (torch.profiler memory events" in out
    # the allocator peak, inside patch2vec's convolution, is predicted to the byte at both t;
    # tensor peak at t=1: 2,949,120 = 5,898,240 / 2; error (2,949,120 - 13,205,504) / 13,205,504 = -77.667%
    # and at t=2: (5,898,240 - 13,565,952) / 13,565,952 = -56.522%
    assert "1       13,205,504                  13,205,504  +0.000%      2,949,120  -77.667%  he_output (aten.convolution in patch2vec)\n" in out
    assert "2       13,565,952                  13,565,952  +0.000%      5,898,240  -56.522%  he_output (aten.convolution in patch2vec)\n" in out
    # each t: the prediction, then 3 + 1 + repeats = 5 real passes, announced as they start
    steps = [
        "prediction (fake tensors)",
        "real forward pass 1/5 (op recorder)",
        "real forward pass 2/5 (warm-up)",
        "real forward pass 3/5 (allocator peak)",
        "real forward pass 4/5 (timing warm-up)",
        "real forward pass 5/5 (timed 1/1)",
    ]
    expected = [f"measuring t={t}: {step} ..." for t in (1, 2) for step in steps]
    assert [line for line in err.splitlines() if line.startswith("measuring")] == expected


def test_one_t_shows_the_table_and_quiet_is_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "2", "--measure", "--repeats", "1", "--out", str(tmp_path), *TINY]) == 0
    out = capsys.readouterr().out
    assert "2       13,565,952                  13,565,952  +0.000%      5,898,240  -56.522%" in out
    assert "real run's tensor peak   5,898,240 B" in out and "wall ms (median)" in out
    assert main(["--frames", "2", "--measure", "--repeats", "1", "--quiet", "--out", str(tmp_path), *TINY]) == 0
    assert capsys.readouterr() == ("", "")


def test_repeats_without_measure_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "1", "--repeats", "2", "--out", str(tmp_path), *TINY]) == 2
    err = capsys.readouterr().err
    assert err == "dstt-profile: error: --repeats counts the timed real passes of --measure: add --measure or leave it out\n"
