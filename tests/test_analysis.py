"""The analyses over the engine's records: scaling fits, crossovers, the attention what-if, training
memory, "will it fit" and the seed table. Exact figures, arithmetic beside them.

Fake-tensor runs cost about a second each, so every run comes from the session's shared traces
(tests/traces.py) and the sweeps are short.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from traces import conv_workspace, profiled

from dstt_profile.analysis import fit
from dstt_profile.analysis.laws import crossover, law, peak_laws
from dstt_profile.analysis.report import scaling_series
from dstt_profile.api import max_frames
from dstt_profile.cli.main import main
from dstt_profile.pipeline import search
from dstt_profile.pipeline.training import training_split
from dstt_profile.poly import Poly
from dstt_profile.poly import fit as fit_poly
from dstt_profile.profiles.dstt import seed, whatif
from dstt_profile.records.laws import Law, MemoryView
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord
from dstt_profile.render.training import render as render_training
from dstt_profile.runs import build_run

GIB = 2**30


def run(config: RunConfig) -> RunRecord:
    return profiled(config, keep_ops=False)


def ints(poly: Poly | None) -> tuple[int, ...]:
    """A fitted polynomial's coefficients, which must be whole numbers (low power first)."""
    assert poly is not None and all(c.denominator == 1 for c in poly.coefficients)
    return tuple(int(c) for c in poly.coefficients)


def segments_of(found: Result, view: MemoryView = MemoryView.ALLOCATOR) -> tuple:  # type: ignore[type-arg]
    """The peak's laws per segment of constant peak stage over a sweep's runs."""
    return peak_laws(scaling_series(found.runs, ""), view)


def sweep(frames: tuple[int, ...], **options: object) -> Result:
    return Result(tuple(run(build_run(t, **options)) for t in frames))


Fits = dict[str, dict[str, Law]]


@pytest.fixture(scope="module")
def fits() -> Fits:
    """Per stage: its headline elements and its FLOPs over t = 1..4, as exact laws."""
    runs = sweep((1, 2, 3, 4)).runs
    return {
        stage: {kind: law(f"{stage}.{kind}", [(r.frames, getattr(r.stages[stage], kind)) for r in runs])
                for kind in ("elements", "flops")}
        for stage in runs[0].stages
    }


# --- exact polynomial fits -------------------------------------------------------------------------


def test_fit_poly_is_exact_and_verified() -> None:
    poly = fit_poly([(1, 3), (2, 11), (3, 25), (5, 71)])  # 3t^2 - t + 1
    assert poly is not None and ints(poly) == (1, -1, 3)
    assert fit_poly([(1, 1), (2, 8), (3, 27)], max_degree=1) is None  # t^3: nothing low fits
    assert fit_poly([(1, 1), (2, 4)]) is None  # 2 points: only a constant is verifiable, and fails


def test_temporal_elements_quadratic(fits: Fits) -> None:
    f = fits["temporal_attention"]["elements"]
    assert f.poly is not None
    assert f.poly.text() == "518400*t^2 + 0*t + 0"  # k*n^2/s^2 = 4*720*720/4 = 518400
    assert f.slope == pytest.approx(2.0)


def test_linear_stage_elements(fits: Fits) -> None:
    expected = {
        "he_output": 368_640,  # n*d = 720*512
        "spatial_attention": 2_073_600,  # k*n^2 = 4*720*720
        "ffn": 1_474_560,  # n*4d = 720*2048
        "vec2patch": 4_515_840,  # n*c'*p^2 = 720*128*49
    }
    for stage, coef in expected.items():
        poly = fits[stage]["elements"].poly
        assert poly is not None and ints(poly) == (0, coef), stage


def test_flop_fits(fits: Fits) -> None:
    # temporal: L_t*(8*t*n*d^2 + 4*t^2*n^2*d/s^2), L_t = 4:
    #   t:   4*8*720*512^2 = 6_039_797_760;  t^2: 4*4*720^2*512/4 = 1_061_683_200
    poly = fits["temporal_attention"]["flops"].poly
    assert poly is not None and ints(poly) == (0, 6_039_797_760, 1_061_683_200)
    ffn = fits["ffn"]["flops"].poly  # L*16*n*d^2 = 8*16*720*512^2 = 24_159_191_040
    assert ffn is not None and ints(ffn) == (0, 24_159_191_040)


# --- crossovers --------------------------------------------------------------------------------------


def test_headline_crossover(fits: Fits) -> None:
    # largest linear headline is vec2patch, 4_515_840*t; 518_400*t^2 > 4_515_840*t  <=>  t > 8.71
    # t=8: 33_177_600 < 36_126_720;  t=9: 41_990_400 > 40_642_560
    polys = {stage: f["elements"].poly for stage, f in fits.items()}
    assert crossover(polys, range(1, 4097), "temporal_attention") == 9  # type: ignore[arg-type]


TA = "temporal_attention"


def test_crossover_tie_rule() -> None:
    square = {"temporal_attention": lambda t: t * t, "ffn": lambda t: 4 * t}  # equal at t = 4: 16 = 16
    assert crossover(square, range(1, 11), TA) == 5  # a tie is not the largest: from t = 5 (25 > 20)
    assert crossover(square, range(1, 5), TA) is None  # a tie at the last t: no crossover
    assert crossover(square, range(5, 8), TA) == 5  # larger at every t swept: the first one
    # larger (t = 1: 9 > 4), tied (t = 2: 8 = 8), larger again (t >= 3): from after the tie
    dip = {"temporal_attention": lambda t: 9 if t == 1 else 4 * t, "hier_enc": lambda t: 4 + 2 * t}
    assert crossover(dip, range(1, 6), TA) == 3
    # against the largest of several others, and exactly: t^2 / 3 = t at t = 3 only
    thirds = {"temporal_attention": lambda t: Fraction(t * t, 3), "ffn": lambda t: t, "encoder": lambda t: 1}
    assert crossover(thirds, range(1, 10), TA) == 4


# Peaks of model/dstt.py (the released lifetimes), fp32 at 240x432, in the two memory views:
#   allocator view, at decoder.4.conv: 107,642,880*t + 147,456 (tests/test_allocator.py has the sum)
#   tensor view, at decoder.4.conv:     66,355,200*t
#   at the second temporal product (p_attn @ v), both views: 4,147,200*t^2 + 13,639,680*t
#     (scores and softmax, 2 * 720^2 * 4 B per t^2; the rest linear)


def test_peak_crossover_fp32_search() -> None:
    # allocator: t=22: decoder 2,368,290,816 > temporal 2,307,317,760; t=23: temporal 2,507,581,440 > 2,475,933,696
    assert search.peak_crossover(RunConfig()) == 23
    # tensors only: t=12: decoder 796,262,400 > temporal 760,872,960; t=13: temporal 878,192,640 > 862,617,600
    assert search.peak_crossover(RunConfig(memory="tensors")) == 13


@pytest.mark.parametrize("dtype, size", [("float32", 4), ("bfloat16", 2), ("int8", 1)])
def test_peak_crossover_per_dtype(dtype: str, size: int) -> None:
    # Every tensor scales with the element size; the decoder's peak adds decoder.4.conv's workspace on
    # this machine, which scales with it only where oneDNN runs the dtype (float32 everywhere, bfloat16 on
    # AVX-512; int8 is computed in float32, counted at 1 byte). So where the peak sits at t = 22 and 23 is
    # the larger of: decoder 81,100,800*t*size/4 + workspace(t); temporal (t=22) 2,307,317,760*size/4,
    # (t=23) 2,507,581,440*size/4. (On AVX-512 and in float32 the crossover is t = 23 at every dtype;
    # without native bfloat16 the decoder keeps the peak.)
    computed = "float32" if dtype == "int8" else dtype
    temporal = {22: 2_307_317_760, 23: 2_507_581_440}
    for t in (22, 23):
        found = run(RunConfig(frames=t, dtype=dtype)).peak
        workspace = conv_workspace((64, 240, 432), (64, 64, 3, 3), computed, t) * size // RunConfig(dtype=computed).element_bytes
        decoder = 81_100_800 * t * size // 4 + workspace
        expected = max((decoder, "decoder"), (temporal[t] * size // 4, "temporal_attention"))
        assert (found.stage, found.bytes) == (expected[1], expected[0])
    if size == 4 or dtype == "int8":
        assert run(RunConfig(frames=23, dtype=dtype)).peak.stage == "temporal_attention"


def test_peak_fitted_per_segment() -> None:
    segments = segments_of(sweep((20, 21, 22, 23, 24, 25, 26)))
    assert [(s.stage, s.law.first, s.law.last) for s in segments] == [
        ("decoder", 20, 22),
        ("temporal_attention", 23, 26),
    ]
    # decoder (at decoder.4.conv): 107,642,880 B per frame plus the weight reorder inside the op
    assert segments[0].law.poly is not None and ints(segments[0].law.poly) == (147_456, 107_642_880)
    assert segments[1].law.poly is not None
    assert ints(segments[1].law.poly) == (0, 13_639_680, 4_147_200)
    tensors = segments_of(sweep((10, 11, 12, 13, 14, 15, 16), memory="tensors"), MemoryView.TENSORS)
    assert [(s.stage, s.law.first, s.law.last) for s in tensors] == [("decoder", 10, 12), ("temporal_attention", 13, 16)]
    assert tensors[0].law.poly is not None and ints(tensors[0].law.poly) == (0, 66_355_200)


# --- the attention what-if ----------------------------------------------------------------------------


def test_whatif_matmul_vs_sdpa() -> None:
    # At t=14 the decoder holds the allocator peak whichever attention runs: the fused kernel saves nothing
    cmp14 = whatif.compare(run(RunConfig(frames=14)), run(build_run(14, model_args={"attention": "sdpa"})))
    assert cmp14.matmul.peak_bytes == cmp14.sdpa.peak_bytes == 1_507_147_776  # 107,642,880*14 + 147,456
    assert cmp14.ratio == 1
    # At t=32 the two t^2 matrices hold it: 4,147,200*1024 + 13,639,680*32 = 4,683,202,560
    cmp = whatif.compare(run(RunConfig(frames=32)), run(build_run(32, model_args={"attention": "sdpa"})))
    assert cmp.matmul.peak_bytes == 4_683_202_560
    assert cmp.sdpa.peak_bytes == 3_444_719_616  # decoder 107,642,880*32 + 147,456
    assert cmp.ratio == Fraction(4_683_202_560, 3_444_719_616)
    assert cmp.matmul.kernels["temporal_attention"] == "aten.bmm on cpu"
    assert cmp.sdpa.kernels["temporal_attention"] == "aten._scaled_dot_product_flash_attention_for_cpu on cpu"
    assert not cmp.sdpa.temporal_materialised and cmp.sdpa.temporal_elements == 11_796_480  # t*n*d = 32*720*512
    text = whatif.render(cmp)
    assert "attention matrix not materialised" in text and "ratio matmul/sdpa = 1.360" in text


def test_whatif_growth() -> None:
    frames = (24, 25, 26, 27)
    matmul, sdpa = segments_of(sweep(frames)), segments_of(sweep(frames, model_args={"attention": "sdpa"}))
    assert [s.law.poly.degree for s in matmul if s.law.poly] == [2]
    assert [(s.stage, s.law.poly.degree) for s in sdpa if s.law.poly] == [("decoder", 1)]  # linear: no t^2 matrix
    assert sdpa[0].law.poly is not None and ints(sdpa[0].law.poly) == (147_456, 107_642_880)


# --- training memory ------------------------------------------------------------------------------------


def test_training_split_released_setting() -> None:
    config = RunConfig(frames=5, batch=8, mode="train")
    split = training_split(config)
    # the split is of the tensor view (what holds the tensors); the allocator view adds forward workspaces
    assert split.tensor_peak.bytes == run(config).tensor_peak.bytes == 18_581_306_132
    assert split.gradients + split.saved + split.temporaries == split.tensor_peak.bytes
    assert split.tensor_peak.stage == "backward"
    # peak at the first decoder backward: only decoder.6 (Conv 64->3 3x3) has its grads yet:
    # (3*64*9 + 3) * 4 = 6_924
    assert split.gradients == 6_924
    assert split.saved == 16_457_932_800
    assert split.temporaries == 2_123_366_408
    assert split.parameters == 138_116_620  # 34_529_155 * 4
    assert split.adam_state == 276_233_240  # 2 * 138_116_620
    assert split.footprint == 138_116_620 + 18_581_306_132 + 276_233_240
    assert "Adam state" in render_training(split, config)


# --- will it fit -------------------------------------------------------------------------------------------


def test_fit_16gib_480x864(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--budget", "16GiB", "--res", "480x864", "--gate", "peak", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert list(answer) == [
        "max_frames", "peak_bytes", "next_peak_bytes", "budget_bytes", "gate", "footprint_bytes", "next_footprint_bytes"
    ]
    # at 480x864 the temporal peak is 66_355_200*t^2 + 54_558_720*t (2 matrices of 2880^2*t^2 fp32)
    # t=15: 14_929_920_000 + 818_380_800 = 15_748_300_800 <= 17_179_869_184 (16 GiB)
    # t=16: 16_986_931_200 + 872_939_520 = 17_859_870_720 >  17_179_869_184
    assert answer == {
        "max_frames": 15,
        "peak_bytes": 15_748_300_800,
        "next_peak_bytes": 17_859_870_720,
        "budget_bytes": 16 * GIB,
        "gate": "peak",
        # + weights 138_116_620 + input 15*3*480*864*4 = 74_649_600 (t=16: 79_626_240)
        "footprint_bytes": 15_748_300_800 + 138_116_620 + 74_649_600,
        "next_footprint_bytes": 17_859_870_720 + 138_116_620 + 79_626_240,
    }
    at, nxt = (profiled(RunConfig(frames=t, height=480, width=864), keep_ops=False) for t in (15, 16))
    assert at.peak.bytes == 15_748_300_800 <= 16 * GIB < nxt.peak.bytes == 17_859_870_720


def test_fit_search_and_api() -> None:
    # a toy peak 10*t^2: budget 1000 -> t = 10 (1000), t = 11 (1210)
    assert fit.search_max(lambda t: 10 * t * t, 1000) == 10
    assert fit.search_max(lambda t: 10 * t * t, 9) == 0
    # allocator view, decoder: 107,642,880*5 + 147,456 = 538,361,856; t=6: 646,004,736 > 600,000,000
    assert max_frames("600MB", gate="peak") == 5
    # tensors only: 66,355,200*9 = 597,196,800; t=10: 663,552,000
    assert max_frames("600MB", gate="peak", memory="tensors") == 9
    # the default gate is the footprint: + weights 138,116,620 + input t*1,244,160 (t*3*240*432*4)
    # t=4: 430,718,976 + 138,116,620 + 4,976,640 = 573,812,236 <= 600,000,000; t=5: 681,969,436 is over
    assert max_frames("600MB") == 4


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


def test_resolution_laws() -> None:
    # t = 2 at 240, 288, 336, 384 x 96: n = (H/12)*(96/12) = 160, 192, 224, 256 tokens per frame
    runs = [run(RunConfig(frames=2, height=h, width=96)) for h in (240, 288, 336, 384)]
    n = [h // 12 * 8 for h in (240, 288, 336, 384)]

    def by_n(stage: str) -> Poly | None:
        return law(stage, [(k, r.stages[stage].elements) for k, r in zip(n, runs)]).poly

    assert ints(by_n("temporal_attention")) == (0, 0, 4)  # k*t^2/s^2 = 4*4/4 = 4
    assert ints(by_n("spatial_attention")) == (0, 0, 8)  # k*t = 4*2 = 8
    assert ints(by_n("ffn")) == (0, 4_096)  # t*4d = 2*2048
