"""Lists in the main job's --dtype, --attention and --mode: every combination, side by side."""

from __future__ import annotations

from pathlib import Path

import pytest
from traces import real_peak

from dstt_profile.cli.main import main
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result

TINY = ["--frames", "2", "--res", "48x96", "--format", "json"]  # n = 32 tokens per frame


def test_dtype_by_attention_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*TINY, "--dtype", "float32,bfloat16,int8", "--attention", "matmul,sdpa", "--out", str(tmp_path)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("DSTT t=2 48x96 batch 1 on cpu: 6 runs side by side")
    assert lines[2].split() == [
        "float32", "matmul", "float32", "sdpa", "bfloat16", "matmul", "bfloat16", "sdpa", "int8", "matmul", "int8", "sdpa"
    ]
    rows = {line[:26].strip(): line[26:].split() for line in lines[4:18]}
    # The allocator peak depends on the CPU (which convolution kernels run, and what they hold inside):
    # each equals this machine's real run (13,565,952 B in float32 on AVX2 and AVX-512 alike; bfloat16
    # is 6,782,976 B where oneDNN runs it, 14,221,312 B where ATen's own kernels unfold the input). int8
    # is computed in float32 and every byte counted at 1 of 4: float32's / 4. The matmul and sdpa peaks
    # are equal here (the peak is in patch2vec's convolution).
    fp32, bf16 = (real_peak(RunConfig(frames=2, height=48, width=96, dtype=d)) for d in ("float32", "bfloat16"))
    assert rows["allocator peak (B)"] == [f"{fp32:,}"] * 2 + [f"{bf16:,}"] * 2 + [f"{fp32 // 4:,}"] * 2
    assert rows["tensor peak (B)"] == ["5,898,240"] * 2 + ["2,949,120"] * 2 + ["1,474,560"] * 2
    assert rows["FLOPs"] == ["8,949,563,392"] * 6  # the same arithmetic at every dtype and backend
    # matmul: k*t^2*n^2/s^2 = 4*4*1024/4 = 4,096 elements; sdpa: t*n*d = 2*32*512 = 32,768 elements
    assert rows["temporal_attention bytes"] == ["16,384", "131,072", "8,192", "65,536", "4,096", "32,768"]
    saved = sorted(p.name for p in tmp_path.glob("*.json"))
    assert saved == [
        "dstt_t2_48x96_bfloat16.json",
        "dstt_t2_48x96_bfloat16_sdpa.json",
        "dstt_t2_48x96_float32.json",
        "dstt_t2_48x96_float32_sdpa.json",
        "dstt_t2_48x96_int8.json",
        "dstt_t2_48x96_int8_sdpa.json",
    ]
    assert Result.load(tmp_path / "dstt_t2_48x96_int8_sdpa.json").runs[0].peak.bytes == fp32 // 4


def test_sweep_columns_per_t(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--frames", "1,2", "--res", "48x96", "--format", "json", "--dtype", "float32,bfloat16", "--out", str(tmp_path)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("DSTT t=1,2 48x96 batch 1 on cpu: 4 runs side by side")
    assert lines[2].split() == ["float32", "t=1", "float32", "t=2", "bfloat16", "t=1", "bfloat16", "t=2"]
    # each equals this machine's real run (float32: t=1 13,205,504 B, t=2 13,565,952 B on AVX2 and
    # AVX-512; bfloat16 halves them only where oneDNN runs its convolutions)
    real = [real_peak(RunConfig(frames=t, height=48, width=96, dtype=d)) for d in ("float32", "bfloat16") for t in (1, 2)]
    assert lines[4].split()[3:] == [f"{b:,}" for b in real]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dtype", "float32,float32"], "--dtype 'float32,float32': a value is repeated"),
        (["--attention", "matmul,"], "--attention 'matmul,': an empty value in the list"),
        (["--dtype", "float32,float7"], "dtype 'float7' is not one of float32, float16, bfloat16, int8"),
        (["--mode", "inference,train", "--measure"], "--measure runs the forward pass: use --mode inference"),
    ],
)
def test_bad_lists_one_line(args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.json"))  # refused before any work
