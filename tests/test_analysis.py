"""The analyses over the engine's records: scaling fits, crossovers, the attention what-if, training
memory, "will it fit" and the seed table. Exact figures, arithmetic beside them.

Fake-tensor runs cost about a second each, so every run goes through one cache and the sweeps are short.
"""

from __future__ import annotations

import json
from fractions import Fraction
from functools import cache

import pytest

from dstt_profile import fit, scaling, seed, training, whatif
from dstt_profile.api import profile_run
from dstt_profile.cli import main
from dstt_profile.records import Result, RunRecord
from dstt_profile.runconfig import RunConfig

GIB = 2**30


@cache
def run(config: RunConfig) -> RunRecord:
    return profile_run(config, keep_ops=False)


def ints(poly: scaling.Poly | None) -> tuple[int, ...]:
    """A fitted polynomial's coefficients, which must be whole numbers (low power first)."""
    assert poly is not None and all(c.denominator == 1 for c in poly.coefficients)
    return tuple(int(c) for c in poly.coefficients)


def sweep(frames: tuple[int, ...], **options: object) -> Result:
    return Result(tuple(run(RunConfig(frames=t, **options)) for t in frames))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fits() -> dict[str, dict[str, scaling.Fit]]:
    return scaling.stage_fits(sweep((1, 2, 3, 4)))


# --- exact polynomial fits -------------------------------------------------------------------------


def test_fit_poly_is_exact_and_verified() -> None:
    poly = scaling.fit_poly([(1, 3), (2, 11), (3, 25), (5, 71)])  # 3t^2 - t + 1
    assert poly is not None and ints(poly) == (1, -1, 3)
    assert scaling.fit_poly([(1, 1), (2, 8), (3, 27)], max_degree=1) is None  # t^3: nothing low fits
    assert scaling.fit_poly([(1, 1), (2, 4)]) is None  # 2 points: only a constant is verifiable, and fails


def test_temporal_elements_quadratic(fits: dict[str, dict[str, scaling.Fit]]) -> None:
    f = fits["temporal_attention"]["elements"]
    assert f.poly is not None
    assert f.poly.text() == "518400*t^2 + 0*t + 0"  # k*n^2/s^2 = 4*720*720/4 = 518400
    assert f.slope == pytest.approx(2.0)


def test_linear_stage_elements(fits: dict[str, dict[str, scaling.Fit]]) -> None:
    expected = {
        "he_output": 368_640,  # n*d = 720*512
        "spatial_attention": 2_073_600,  # k*n^2 = 4*720*720
        "ffn": 1_474_560,  # n*4d = 720*2048
        "vec2patch": 4_515_840,  # n*c'*p^2 = 720*128*49
    }
    for stage, coef in expected.items():
        poly = fits[stage]["elements"].poly
        assert poly is not None and ints(poly) == (0, coef), stage


def test_flop_fits(fits: dict[str, dict[str, scaling.Fit]]) -> None:
    # temporal: L_t*(8*t*n*d^2 + 4*t^2*n^2*d/s^2), L_t = 4:
    #   t:   4*8*720*512^2 = 6_039_797_760;  t^2: 4*4*720^2*512/4 = 1_061_683_200
    poly = fits["temporal_attention"]["flops"].poly
    assert poly is not None and ints(poly) == (0, 6_039_797_760, 1_061_683_200)
    ffn = fits["ffn"]["flops"].poly  # L*16*n*d^2 = 8*16*720*512^2 = 24_159_191_040
    assert ffn is not None and ints(ffn) == (0, 24_159_191_040)


# --- crossovers --------------------------------------------------------------------------------------


def test_headline_crossover(fits: dict[str, dict[str, scaling.Fit]]) -> None:
    # largest linear headline is vec2patch, 4_515_840*t; 518_400*t^2 > 4_515_840*t  <=>  t > 8.71
    # t=8: 33_177_600 < 36_126_720;  t=9: 41_990_400 > 40_642_560
    assert scaling.headline_crossover(fits) == 9


def test_peak_crossover_fp32_search() -> None:
    assert scaling.peak_crossover(RunConfig(), profile=run) == 13


@pytest.mark.parametrize("dtype, size", [("float32", 4), ("float16", 2), ("int8", 1)])
def test_peak_crossover_per_dtype(dtype: str, size: int) -> None:
    # every tensor scales with the element size, so the crossover t = 13 holds at every dtype.
    # t=12: decoder 64_512_000*12/4*size;  t=13: temporal 4_147_200*169 + 13_639_680*13 = 878_192_640 (fp32)
    at12, at13 = (run(RunConfig(frames=t, dtype=dtype)) for t in (12, 13))
    assert (at12.peak.stage, at12.peak.bytes) == ("decoder", 774_144_000 * size // 4)
    assert (at13.peak.stage, at13.peak.bytes) == ("temporal_attention", 878_192_640 * size // 4)
    assert at13.peak.bytes > 64_512_000 * 13 * size // 4  # what the decoder would hold: 838_656_000 fp32


def test_peak_fitted_per_segment() -> None:
    segments = scaling.peak_segments(sweep((10, 11, 12, 13, 14, 15, 16)))
    assert [(s.stage, s.first, s.last) for s in segments] == [
        ("decoder", 10, 12),
        ("temporal_attention", 13, 16),
    ]
    # decoder (at decoder.4.conv): 64_512_000 B per frame, zero intercept, verified on t = 10, 11, 12
    assert segments[0].fit.poly is not None and ints(segments[0].fit.poly) == (0, 64_512_000)
    # temporal: scores + softmax output, 2 * 518_400 * 4 B = 4_147_200 per t^2, plus a linear rest
    assert segments[1].fit.poly is not None
    assert ints(segments[1].fit.poly) == (0, 13_639_680, 4_147_200)


# --- the attention what-if ----------------------------------------------------------------------------


def test_whatif_matmul_vs_sdpa() -> None:
    cmp = whatif.compare(run(RunConfig(frames=14)), run(RunConfig(frames=14, attention="sdpa")))
    assert cmp.matmul.peak_bytes == 1_003_806_720  # 4_147_200*196 + 13_639_680*14
    assert cmp.sdpa.peak_bytes == 903_168_000  # decoder 64_512_000*14
    assert cmp.ratio == Fraction(1_003_806_720, 903_168_000)
    assert cmp.matmul.kernels["temporal_attention"] == "aten.bmm on cpu"
    assert cmp.sdpa.kernels["temporal_attention"] == "aten._scaled_dot_product_flash_attention_for_cpu on cpu"
    assert not cmp.sdpa.temporal_materialised and cmp.sdpa.temporal_elements == 5_160_960  # t*n*d
    text = whatif.render(cmp)
    assert "attention matrix not materialised" in text and "ratio matmul/sdpa = 1.111" in text


def test_whatif_growth() -> None:
    frames = (14, 15, 16, 17)
    grow = whatif.growth(sweep(frames), sweep(frames, attention="sdpa"))
    assert [s.fit.degree for s in grow.matmul] == [2]
    assert [(s.stage, s.fit.degree) for s in grow.sdpa] == [("decoder", 1)]  # linear: no t^2 matrix
    assert grow.sdpa[0].fit.poly is not None and ints(grow.sdpa[0].fit.poly) == (0, 64_512_000)


# --- training memory ------------------------------------------------------------------------------------


def test_training_split_released_setting() -> None:
    config = RunConfig(frames=5, batch=8, mode="train")
    split = training.training_split(config)
    assert split.peak_bytes == run(config).peak.bytes == 18_581_306_132
    assert split.gradients + split.saved + split.temporaries == split.peak_bytes
    assert split.peak_stage == "backward"
    # peak at the first decoder backward: only decoder.6 (Conv 64->3 3x3) has its grads yet:
    # (3*64*9 + 3) * 4 = 6_924
    assert split.gradients == 6_924
    assert split.saved == 16_457_932_800
    assert split.temporaries == 2_123_366_408
    assert split.parameters == 138_116_620  # 34_529_155 * 4
    assert split.adam_state == 276_233_240  # 2 * 138_116_620
    assert split.footprint == 138_116_620 + 18_581_306_132 + 276_233_240
    assert "Adam state" in training.render(split, config)


# --- will it fit -------------------------------------------------------------------------------------------


def test_fit_16gib_480x864(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", "16GiB", "--res", "480x864", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert list(answer) == ["max_frames", "peak_bytes", "next_peak_bytes", "budget_bytes"]
    # at 480x864 the temporal peak is 66_355_200*t^2 + 54_558_720*t (2 matrices of 2880^2*t^2 fp32)
    # t=15: 14_929_920_000 + 818_380_800 = 15_748_300_800 <= 17_179_869_184 (16 GiB)
    # t=16: 16_986_931_200 + 872_939_520 = 17_859_870_720 >  17_179_869_184
    assert answer == {
        "max_frames": 15,
        "peak_bytes": 15_748_300_800,
        "next_peak_bytes": 17_859_870_720,
        "budget_bytes": 16 * GIB,
    }
    at, nxt = (profile_run(RunConfig(frames=t, height=480, width=864), keep_ops=False) for t in (15, 16))
    assert at.peak.bytes == 15_748_300_800 <= 16 * GIB < nxt.peak.bytes == 17_859_870_720


def test_fit_search_and_api() -> None:
    # a toy peak 10*t^2: budget 1000 -> t = 10 (1000), t = 11 (1210)
    assert fit.search_max(lambda t: 10 * t * t, 1000) == 10
    assert fit.search_max(lambda t: 10 * t * t, 9) == 0
    assert fit.max_frames("600MB") == 9  # decoder peak 64_512_000*9 = 580_608_000; t=10: 645_120_000


def test_fit_nothing_fits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", "1MB"]) == 1
    assert "even t = 1 does not fit" in capsys.readouterr().out


@pytest.mark.parametrize("budget", ["16XB", "-1GiB", "lots", "1.5.2GB"])
def test_fit_bad_budget_exit_2(budget: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", budget]) == 2
    assert "error" in capsys.readouterr().err


# --- the seed table ------------------------------------------------------------------------------------------


def test_seed_table() -> None:
    rows = {r.stage: r for r in seed.seed_rows(measured=run(RunConfig(frames=14)))}
    assert rows["temporal_attention"].elements == 101_606_400  # 14^2*720*720
    assert rows["temporal_attention"].bytes_at(4) == 406_425_600  # the seed's "406 MB" at fp32
    assert rows["he_output"].bytes_at(2) == 10_321_920  # 14*720*512*2
    # 720*512 = 368_640 B per frame = 360 KiB, not 300 KB
    assert rows["he_output"].verdict.startswith("discrepancy: seed t*300KB is really 360 KiB")
    # 720*128*49 = 4_515_840 B = 4.307 MiB per frame, 7.7% over the seed's 4 MB
    assert rows["vec2patch"].verdict.startswith("discrepancy: seed t*4MB is really 4.307 MiB")
    for stage in ("spatial_attention", "ffn", "temporal_attention"):  # 2_073_600, 1_474_560, 518_400 B
        assert rows[stage].agrees, rows[stage].verdict
    assert rows["vec2patch_fold"].verdict == ""
    assert "8,493,465,600 B" in seed.render()  # t=64: 518_400*64^2*4, the seed's "8.5 GB"


def test_resolution_fits() -> None:
    # t = 2 at 240, 288, 336, 384 x 432: n = (H/12)*36 = 720, 864, 1008, 1152
    result = Result(tuple(run(RunConfig(frames=2, height=h)) for h in (240, 288, 336, 384)))
    fits = scaling.resolution_fits(result)
    assert fits["temporal_attention"].text().startswith("temporal_attention.elements: 4*n^2 + 0*n + 0")
    assert ints(fits["temporal_attention"].poly) == (0, 0, 4)  # k*t^2/s^2 = 4*4/4 = 4
    assert ints(fits["spatial_attention"].poly) == (0, 0, 8)  # k*t = 4*2 = 8
    assert ints(fits["ffn"].poly) == (0, 4_096)  # t*4d = 2*2048
