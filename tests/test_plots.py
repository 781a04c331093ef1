"""The scaling plots and the stage table's accounting: readable log ticks, each plot's own crossover,
axis units chosen from the data, and train mode's backward pass named as such."""

from __future__ import annotations

import re

import pytest
from traces import T14, profiled

from dstt_profile.analysis.laws import laws_of, series_crossover
from dstt_profile.analysis.report import scaling_series
from dstt_profile.api import scaling_runs
from dstt_profile.records.laws import MemoryView
from dstt_profile.records.report import Report
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord, ScalingRecord
from dstt_profile.render.html import stage_rows, summary
from dstt_profile.render.plots import scale_for, scaling_svg
from dstt_profile.render.terminal import render_run


@pytest.fixture(scope="module")
def runs() -> tuple[RunRecord, ...]:
    """t = 2..28 at 240x432 fp32, as the main job's report draws them."""
    derived, _ = scaling_runs(profiled(T14), 28)
    return derived


@pytest.fixture(scope="module")
def series(runs: tuple[RunRecord, ...]) -> ScalingRecord:
    return scaling_series(runs, "t = 2..28")


def report(runs: tuple[RunRecord, ...], series: ScalingRecord) -> Report:
    """The report of the t = 2..28 runs, as the main job's report holds them."""
    return Report(Result(runs), series, laws_of(series, MemoryView.ALLOCATOR, "temporal_attention"))


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def _tick_labels(svg: str, axis: str) -> list[str]:
    """The labels of every `axis` ("x" or "y") tick, both panels, in drawing order: the text groups
    nested in a tick's group (indented deeper than it); a tick with no label has none."""
    labels: list[str] = []
    owner, depth = "", -1
    for m in re.finditer(r'\n( *)<g id="([a-z0-9]+)_\d+">(.*?)(?=\n *<g id=|\Z)', svg, flags=re.S):
        indent, name, body = len(m.group(1)), m.group(2), m.group(3)
        if indent <= depth:
            owner, depth = "", -1
        if name in ("xtick", "ytick"):
            owner, depth = name[0], indent
        elif name == "text" and owner == axis:
            labels += _texts(body)
    return labels


def test_bytes_crossover_is_t9(runs: tuple[RunRecord, ...], series: ScalingRecord) -> None:
    # temporal matrix 4*t^2*720^2/4 elements = t^2*518,400 vs the largest other headline, the encoder
    # output t*256*60*108 = t*1,658,880 (and hier_enc's, FFN's smaller): t^2*518,400 >= t*1,658,880
    # from t >= 3.2 over the encoder, but the Vec2Patch embedding t*720*128*49 = t*4,515,840 holds
    # until t >= 8.71: first whole t is 9.
    t9 = runs[9 - 2].stages
    t8 = runs[8 - 2].stages
    assert t9["temporal_attention"].bytes == 9 * 9 * 720 * 720 * 4 == 167_961_600
    assert t9["vec2patch"].bytes == 9 * 720 * 128 * 49 * 4 == 162_570_240
    assert t8["temporal_attention"].bytes == 8 * 8 * 720 * 720 * 4 == 132_710_400
    assert t8["vec2patch"].bytes == 8 * 720 * 128 * 49 * 4 == 144_506_880
    assert report(runs, series).laws.crossovers["bytes"] == 9


def test_flops_crossover_is_t22(runs: tuple[RunRecord, ...], series: ScalingRecord) -> None:
    # temporal attention, all 4 temporal blocks: 4*(8*t*720*512^2 + 4*t^2*720^2*512/2^2)
    #   = 6,039,797,760*t + 1,061,683,200*t^2; hier_enc, the largest other stage: 28,665,446,400*t.
    # Equal at t = (28,665,446,400 - 6,039,797,760) / 1,061,683,200 = 21.31: first whole t is 22.
    t22 = runs[22 - 2].stages
    t21 = runs[21 - 2].stages
    assert t22["temporal_attention"].flops == 6_039_797_760 * 22 + 1_061_683_200 * 22**2 == 646_730_219_520
    assert t22["hier_enc"].flops == 28_665_446_400 * 22 == 630_639_820_800
    assert t21["temporal_attention"].flops == 6_039_797_760 * 21 + 1_061_683_200 * 21**2 == 595_038_044_160
    assert t21["hier_enc"].flops == 28_665_446_400 * 21 == 601_974_374_400
    assert report(runs, series).laws.crossovers["flops"] == 22


def test_plot_crossover_ties_do_not_count() -> None:
    # temporal 518,400*t^2 against a vec2patch-like 2,073,600*t: equal at t = 4 (8,294,400 both)
    ts = list(range(2, 9))
    temporal = [(t, 518_400 * t * t) for t in ts]
    linear = [(t, 2_073_600 * t) for t in ts]
    ta = "temporal_attention"
    assert series_crossover({ta: temporal, "vec2patch": linear}, ta) == 5  # every whole t swept: the points
    picked = (2, 3, 4, 6, 8)
    sparse = {ta: [p for p in temporal if p[0] in picked], "vec2patch": [p for p in linear if p[0] in picked]}
    assert series_crossover(sparse, ta) == 5  # from the exact fits, the same rule
    assert series_crossover({ta: temporal, "vec2patch": list(temporal)}, ta) is None  # equal everywhere: never the largest


def test_each_plot_marks_its_own_crossover(runs: tuple[RunRecord, ...], series: ScalingRecord) -> None:
    bytes_svg = _texts(scaling_svg(report(runs, series), "bytes", "per instance (float32)"))
    flops_svg = _texts(scaling_svg(report(runs, series), "flops", "over all instances (2 per multiply-add)"))
    assert [t for t in bytes_svg if "largest" in t] == ["t=9: temporal attention's bytes largest"] * 2
    assert [t for t in flops_svg if "largest" in t] == ["t=22: temporal attention's FLOPs largest"] * 2


def test_axis_units_from_the_data(runs: tuple[RunRecord, ...], series: ScalingRecord) -> None:
    # largest bytes: the temporal matrix at t=28, 28^2*720^2*4 = 1,625,702,400 B = 1.51 GiB;
    # largest FLOPs: temporal attention at t=28, 6,039,797,760*28 + 1,061,683,200*28^2 = 1.0015e12.
    assert scale_for("bytes", 1_625_702_400).name == "GiB"
    assert scale_for("flops", 1_001_473_966_080).name == "TFLOP"
    assert scale_for("bytes", 2**30 - 1).name == "MiB"
    assert scale_for("flops", 10**12 - 1).name == "GFLOP"
    bytes_texts = _texts(scaling_svg(report(runs, series), "bytes", "per instance (float32)"))
    flops_texts = _texts(scaling_svg(report(runs, series), "flops", "over all instances (2 per multiply-add)"))
    assert bytes_texts.count("GiB per instance (float32)") == 2
    assert flops_texts.count("TFLOP over all instances (2 per multiply-add)") == 2
    # no raw offsets (1e9, 1e12) on the linear panels
    assert not [t for t in bytes_texts + flops_texts if re.search(r"1e\+?\d|\\times", t)]


def test_log_ticks_are_plain_majors(runs: tuple[RunRecord, ...], series: ScalingRecord) -> None:
    svg = scaling_svg(report(runs, series), "bytes", "per instance (float32)")
    x = _tick_labels(svg, "x")
    y = _tick_labels(svg, "y")
    # linear panel 5..25, then log panel: 2, 5, 10, 20 (t runs 2..28); no "3x10^0"-style minor labels
    assert x == ["5", "10", "15", "20", "25", "2", "5", "10", "20"]
    # linear panel 0.0..1.4 GiB, log panel one label per decade: 0.01, 0.1, 1 GiB
    assert y == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "1.2", "1.4", "0.01", "0.1", "1"]


@pytest.fixture(scope="module")
def train_run() -> RunRecord:
    return profiled(RunConfig(frames=2, mode="train", memory="tensors"), keep_ops=True)


def test_train_shares_include_the_backward_pass(train_run: RunRecord) -> None:
    rows = stage_rows(train_run)
    assert [r["stage"] for r in rows][-1] == "backward"
    forward = sum(s.flops for s in train_run.stages.values())
    # forward 213,539,143,680 FLOPs of 705,413,283,840: the backward pass holds the other 491,874,140,160
    assert forward == 213_539_143_680 and train_run.flops.total == 705_413_283_840
    assert rows[-1]["flops"] == "491.87 GFLOP"
    assert rows[-1]["share"] == "69.7%"  # 491,874,140,160 / 705,413,283,840 = 0.6973
    shares = [float(r["share"].rstrip("%")) for r in rows]
    assert sum(shares) == pytest.approx(100, abs=0.5)
    table = render_run(train_run).splitlines()[4 : 4 + len(rows)]  # after the title, a blank, the header and its rule
    assert table[-1].split()[:2] == ["backward", "-"] and table[-1].split()[-2:] == ["69.7%", "-"]


def test_train_peak_in_backward_is_located_as_the_backward_pass(train_run: RunRecord) -> None:
    # the tensor peak is in the backward pass, where no module runs (module "")
    assert train_run.peak_view.stage == "backward" and train_run.peak_view.module == ""
    where = summary(train_run)["peak_where"]
    assert where == f"backward pass, op #{train_run.tensor_peak.op_index} {train_run.tensor_peak.op}"
    assert "<root>" not in where
    assert f"in the backward pass at op #{train_run.tensor_peak.op_index} {train_run.tensor_peak.op}" in render_run(train_run)


def test_inference_has_no_backward_row(runs: tuple[RunRecord, ...]) -> None:
    run = runs[14 - 2]
    assert run.flops.total == sum(s.flops for s in run.stages.values())
    assert [r["stage"] for r in stage_rows(run)][-1] == "output"
