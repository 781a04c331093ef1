"""`dstt-profile diff`: two saved results compared, exact changes, the CI gate, one-line bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from traces import profiled, real_peak

from dstt_profile.analysis import diff
from dstt_profile.cli.main import main
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result
from dstt_profile.runs import build_run

SMALL = {"frames": 2, "res": "48x96"}  # n = (48/12)*(96/12) = 32 tokens per frame


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("diff")
    paths = {}
    for name, options in {
        "fp32": {},
        "bf16": {"dtype": "bfloat16"},
        "int8": {"dtype": "int8"},
        "sdpa": {"model_args": {"attention": "sdpa"}},
    }.items():
        record = profiled(build_run(**SMALL, **options), keep_ops=True)
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(Result((record,)).to_json())
    sweep = Result(tuple(profiled(RunConfig(frames=t, height=48, width=96), keep_ops=False) for t in (1, 2)))
    paths["sweep"] = folder / "sweep.json"
    paths["sweep"].write_text(sweep.to_json())
    return paths


def test_dtype_change_in_every_byte(saved: dict[str, Path]) -> None:
    (d,) = diff.diff_results(Result.load(saved["fp32"]), Result.load(saved["bf16"]))
    assert d.config == (("dtype", "float32", "bfloat16"),)
    peak, tensors, flops, _other, params = d.totals
    # The allocator peaks are this machine's real ones: bfloat16 halves float32's 13,565,952 B where
    # oneDNN runs its convolutions (AVX-512), and is larger where ATen unfolds the input (AVX2: 14,221,312 B).
    fp32, bf16 = (real_peak(build_run(**SMALL, dtype=dtype)) for dtype in ("float32", "bfloat16"))
    assert (peak.a, peak.b, peak.delta) == (fp32, bf16, bf16 - fp32)
    assert peak.growth == Fraction(bf16 - fp32, fp32)
    assert (tensors.a, tensors.b) == (5_898_240, 2_949_120)  # the tensor view halves on every CPU: 5,898,240 / 2
    assert flops.a == flops.b == 8_949_563_392 and flops.delta == 0  # FLOPs do not depend on the dtype
    assert params.a == params.b == 34_529_155
    # temporal headline: k*t^2*n^2/s^2 = 4*4*1024/4 = 4,096 elements, at 4 then 2 bytes
    assert (d.stages["temporal_attention"][0].a, d.stages["temporal_attention"][0].b) == (16_384, 8_192)
    # the same 519 ops in the same order; the first op allocating different bytes is #1, the first conv
    assert (d.ops_a, d.ops_b) == (519, 519)
    assert d.divergence == diff.Divergence(
        1, "bytes", "#1 aten.convolution (encoder.0) -> 2x64x24x48", "#1 aten.convolution (encoder.0) -> 2x64x24x48"
    )


def test_attention_change_diverges_in_the_first_temporal_block(saved: dict[str, Path]) -> None:
    (d,) = diff.diff_results(Result.load(saved["fp32"]), Result.load(saved["sdpa"]))
    assert d.config == (("attention", "matmul", "sdpa"),)
    # at t=2, 48x96 the peak is inside patch2vec's convolution (he_output) whichever attention runs
    assert d.totals[0].delta == 0 and d.peak_at[0] == d.peak_at[1] == "he_output (aten.convolution in patch2vec)"
    # sdpa's largest temporal tensor is t*n*d = 2*32*512 = 32,768 elements = 131,072 B: +114,688 B
    assert d.stages["temporal_attention"][0].delta == 131_072 - 16_384 == 114_688
    assert d.families["aten.bmm"][0] == diff.Change("FLOPs", 25_165_824, 0)
    fused = d.families["aten._scaled_dot_product_flash_attention_for_cpu"]
    assert (fused[0].b, fused[1].b) == (25_165_824, 8)  # the same FLOPs, in 8 calls (one per block)
    assert (d.ops_a, d.ops_b) == (519, 423)
    assert d.divergence is not None and (d.divergence.index, d.divergence.kind) == (63, "structure")
    assert d.divergence.a == "#63 aten.transpose (transformer.0.attention.attention) -> 1x4x4x128x16"
    assert d.divergence.b == "#63 aten.view (transformer.0.attention.attention) -> 4x4x16x128"


def test_parse_growth() -> None:
    assert diff.parse_growth("+2%") == diff.parse_growth("2%") == Fraction(1, 50)
    assert diff.parse_growth("0.5%") == Fraction(1, 200)
    assert diff.Change("x", 100, 102).exceeds(Fraction(1, 50)) is False  # exactly +2%: allowed
    assert diff.Change("x", 100, 103).exceeds(Fraction(1, 50)) is True
    assert diff.Change("x", 0, 1).exceeds(Fraction(1)) is True  # growth from nothing


def test_cli_gate_exit_codes(saved: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # int8 is computed in float32 with every byte counted at 1 of 4, on every CPU: a quarter of float32
    a, b = str(saved["fp32"]), str(saved["int8"])
    fp32 = real_peak(build_run(**SMALL))
    assert main(["diff", a, b, "--max-growth", "+2%"]) == 0  # smaller: within any growth
    out = capsys.readouterr().out
    assert "configuration: dtype float32 -> int8" in out
    (line,) = [row for row in out.splitlines() if row.strip().startswith("peak (allocator)")]
    assert line.split()[2:] == [f"{fp32:,}", f"{fp32 // 4:,}", f"{fp32 // 4 - fp32:,}", "(-75.000%)"]
    assert "max growth +2%: within" in out
    assert main(["diff", b, a, "--max-growth", "+2%"]) == 1  # back to float32: +300%
    out = capsys.readouterr().out
    assert f"FAIL t=2 peak grew +{fp32 - fp32 // 4:,} (+300.000%): more than +2%" in out
    assert "FAIL t=2 temporal_attention bytes grew +12,288 (+300.000%)" in out  # 16,384 - 4,096
    assert main(["diff", b, a, "--max-growth", "300%"]) == 0  # exactly +300% is allowed


def test_cli_sweeps_pair_by_t(saved: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(saved["sweep"]), str(saved["sweep"])]) == 0
    out = capsys.readouterr().out
    assert "\nt=1\n" in out and "\nt=2\n" in out
    assert "ops: not compared (a result without per-op records)" in out
    assert main(["diff", str(saved["sweep"]), str(saved["fp32"])]) == 0
    assert capsys.readouterr().out.count("\nt=") == 1  # only t=2 is in both


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json", "{fp32}"], "diff: no such file 'missing.json'"),
        (["{fp32}", "{fp32}", "--max-growth", "lots"], "--max-growth 'lots' is not a percentage"),
        (["{fp32}"], "the following arguments are required: b"),
        (["{fp32}", "{bad}"], "not a dstt-profile result"),
    ],
)
def test_cli_bad_input_one_line(
    args: list[str], message: str, saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "dstt-profile/1", "runs": [{"params": 1}]}')
    argv = [a.format(fp32=saved["fp32"], bad=bad) for a in args]
    assert main(["diff", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_released_size_matmul_to_sdpa(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for attention in ("matmul", "sdpa"):
        record = profiled(build_run(14, model_args={"attention": attention}), keep_ops=True)
        paths.append(tmp_path / f"{attention}.json")
        paths[-1].write_text(Result((record,)).to_json())
    (d,) = diff.diff_results(Result.load(paths[0]), Result.load(paths[1]))
    peak, tensors, flops, _other, _params = d.totals
    # the decoder holds the allocator peak either way: 107,642,880*14 + 147,456 = 1,507,147,776
    assert peak.a == peak.b == 1_507_147_776
    # tensors only: 2*406,425,600 + 46,448,640 + 7*20,643,840 = 1,003,806,720 (temporal) against
    # the decoder's 66,355,200*14 = 928,972,800 once no t^2 matrix exists: -74,833,920
    assert (tensors.a, tensors.b, tensors.delta) == (1_003_806_720, 928_972_800, -74_833_920)
    assert flops.a == flops.b == 1_673_136_783_360
    # temporal headline: t^2*720*720*4 = 406,425,600 B against t*n*d*4 = 14*720*512*4 = 20,643,840 B
    assert (d.stages["temporal_attention"][0].a, d.stages["temporal_attention"][0].b) == (406_425_600, 20_643_840)
    assert d.divergence is not None and d.divergence.index == 63
    assert d.divergence.a == "#63 aten.transpose (transformer.0.attention.attention) -> 1x4x4x128x2520"
    assert main(["diff", str(paths[1]), str(paths[0]), "--max-growth", "+2%"]) == 1
    out = capsys.readouterr().out
    # 406,425,600 - 20,643,840 = 385,781,760 = +1868.75% of 20,643,840
    assert "FAIL t=14 temporal_attention bytes grew +385,781,760 (+1868.750%): more than +2%" in out
    assert "FAIL t=14 spatial_attention bytes grew +95,477,760 (+462.500%)" in out  # 116,121,600 - 20,643,840
    assert out.count("FAIL") == 2  # peak and FLOPs unchanged
