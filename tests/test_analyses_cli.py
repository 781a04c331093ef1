"""The analyses from the command line: `scaling`, `whatif`, `training`, `seed`, exact figures."""

from __future__ import annotations

import pytest

from dstt_profile.cli.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_scaling_laws_and_crossovers(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["scaling", "--frames", "1:4"], capsys)
    assert "Scaling over t (240x432 float32 matmul b=1), exact fits verified on every point:" in out
    # k*t^2*n^2/s^2 = 4*720^2/4 * t^2 = 518,400*t^2 elements, 4 B each: 2,073,600*t^2 bytes
    assert "temporal_attention.bytes: 2073600*t^2 + 0*t + 0 (degree 2, log-log slope 2.000, t = 1..4)" in out
    # L_t*(8*t*n*d^2 + 4*t^2*n^2*d/s^2), L_t = 4: 6,039,797,760*t + 1,061,683,200*t^2
    assert "temporal_attention.flops: 1061683200*t^2 + 6039797760*t + 0 (degree 2" in out
    # t = 1 stands apart: 31,703,040*t from t = 2, and 30,228,480 at t = 1
    assert "spatial_attention.peak_bytes: 31703040*t + 0 (degree 1, log-log slope 1.000, t = 2..4; t = 1 apart: 30228480)" in out
    # allocator peak at decoder.4.conv: 107,642,880*t + 147,456 (t=14: 1,507,147,776)
    assert "t=1..4 in decoder: peak (decoder): 107642880*t + 147456 (degree 1" in out
    # 518,400*t^2 > 4,515,840*t (vec2patch, the largest linear headline) from t = 9
    assert "Temporal attention matrix is the largest headline tensor from t = 9" in out
    # t=22: decoder 2,368,290,816 > temporal 2,307,317,760; t=23: temporal 2,507,581,440 > 2,475,933,696
    assert "The allocator peak is set inside temporal attention from t = 23" in out


def test_scaling_tensor_view_crossover(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["scaling", "--frames", "10:13", "--memory", "tensors"], capsys)
    # tensors only: t=12: decoder 66,355,200*12 = 796,262,400 > 760,872,960; t=13 temporal 878,192,640
    assert "t=10..12 in decoder: peak (decoder): 66355200*t + 0 (degree 1" in out
    assert "The tensor peak is set inside temporal attention from t = 13" in out


def test_whatif_at_one_t(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["whatif", "--frames", "32"], capsys)
    # matmul: 4,147,200*32^2 + 13,639,680*32 = 4,683,202,560; sdpa: decoder 107,642,880*32 + 147,456
    assert "matmul peak 4.4 GiB (4,683,202,560 B) in temporal_attention" in out
    assert "sdpa   peak 3.2 GiB (3,444,719,616 B) in decoder" in out
    # t*n*d = 32*720*512 = 11,796,480 elements in sdpa's temporal stage
    assert "temporal largest tensor 11,796,480 elements (attention matrix not materialised)" in out
    assert "ratio matmul/sdpa = 1.360 (31760/23361)" in out  # 4,683,202,560 / 3,444,719,616 reduced


def test_whatif_growth_over_a_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["whatif", "--frames", "24:27"], capsys)
    assert "Attention what-if at t = 27:" in out
    assert "t=24..27 peak in temporal_attention: 4147200*t^2 + 13639680*t + 0 bytes (degree 2)" in out
    assert "t=24..27 peak in decoder: 107642880*t + 147456 bytes (degree 1)" in out


def test_training_split(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["training", "--frames", "5", "--batch", "8"], capsys)
    assert "Training step at 240x432, t = 5, batch 8, float32: peak in backward" in out
    assert "6,924 B" in out  # decoder.6's gradients: (3*64*9 + 3) * 4
    assert "16,457,932,800 B" in out and "2,123,366,408 B" in out  # saved, temporaries
    assert "18,581,306,132 B" in out  # = 6,924 + 16,457,932,800 + 2,123,366,408
    assert "18,995,655,992 B" in out  # footprint: 138,116,620 + 18,581,306,132 + 2*138,116,620


def test_seed_table(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(["seed"], capsys)
    # 14^2*720*720 = 101,606,400 elements; fp32 406,425,600 B (the seed's "406 MB")
    assert "temporal_attention  t^2*720*720        101,606,400  101,606,400  203,212,800  406,425,600" in out
    assert "he_output: discrepancy: seed t*300KB is really 360 KiB (368.6 KB, 368,640 B) per frame" in out
    assert "(every element count above equals a fake-tensor trace at t = 14)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scaling", "--frames", "14"], "scaling: --frames needs at least 3 values of t"),
        (["scaling", "--out", "x"], "scaling: --out does not apply here"),
        (["whatif", "--attention", "sdpa"], "whatif: --attention does not apply here"),
        (["training", "--fvcore"], "training: --fvcore does not apply here"),
        (["whatif", "--res", "241x432"], "height 241 is not divisible by 4"),
        (["seed", "--frames", "3"], "unrecognized arguments: --frames 3"),
        (["training", "--measure"], "training: --measure does not apply here"),
    ],
)
def test_bad_input_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
