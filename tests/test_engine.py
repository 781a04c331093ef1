"""The engine's figures at the released configuration, exactly, with the arithmetic beside them."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from traces import conv_workspace, profiled

from dstt_profile.engine.trace import _fake_session, build
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import RunRecord
from dstt_profile.runs import build_run

MIB = 2**20


@pytest.fixture(scope="module")
def t14() -> RunRecord:
    return profiled(RunConfig(frames=14))


def test_stage_headlines_at_t14(t14: RunRecord) -> None:
    s = t14.stages
    assert s["temporal_attention"].shape == (1, 4, 4, 2520, 2520)  # (b, s^2, k, t*n/s^2, t*n/s^2), 14*720/4 = 2520
    assert s["temporal_attention"].elements == 101_606_400  # 14^2*720*720
    assert s["spatial_attention"].shape == (1, 14, 4, 720, 720)
    assert s["spatial_attention"].elements == 29_030_400  # 14*4*720*720
    assert s["ffn"].elements == 20_643_840  # 14*720*2048
    assert s["vec2patch"].elements == 63_221_760  # 14*720*6272
    assert s["he_output"].shape == (14, 512, 20, 36)
    assert s["he_output"].elements == 5_160_960  # 14*720*512


def test_bytes_are_elements_times_dtype_size(t14: RunRecord) -> None:
    assert t14.stages["temporal_attention"].bytes == 406_425_600  # 101,606,400 * 4 B (float32)
    assert t14.stages["vec2patch"].bytes == 252_887_040  # 63,221,760 * 4


def test_instances(t14: RunRecord) -> None:
    assert t14.stages["temporal_attention"].instances == 4  # blocks 0, 2, 4, 6
    assert t14.stages["spatial_attention"].instances == 4  # blocks 1, 3, 5, 7
    assert t14.stages["ffn"].instances == 8  # one per block
    assert t14.stages["he_output"].instances == 1


def test_every_formula_check_passes(t14: RunRecord) -> None:
    failed = [(c.name, c.expected, c.measured) for c in t14.checks if not c.passed]
    assert failed == []
    assert len(t14.checks) == 15  # 9 stage headlines + the Fold output + 5 stage FLOP formulas


def test_peak_at_t14(t14: RunRecord) -> None:
    # At the second attention product (p_attn @ v) of block 2 (temporal) these are alive:
    #   scores / sqrt(d/k) and softmax(scores): 2 * 406,425,600   (t^2*720*720 * 4 B each)
    #   hier_enc output, kept for the add after Vec2Patch: 46,448,640 (14*128*60*108 * 4 B)
    #   7 token tensors of 14*720*512 * 4 B = 20,643,840: patch2vec output, the block's input,
    #   norm1 output, zoned q, k, v, and the product being written
    # 2*406,425,600 + 46,448,640 + 7*20,643,840 = 1,003,806,720
    # That is the tensor view; the allocator holds more, in the decoder (tests/test_allocator.py).
    assert t14.tensor_peak.bytes == 1_003_806_720
    assert t14.tensor_peak.stage == "temporal_attention"
    assert t14.tensor_peak.op == "aten.bmm"
    assert t14.tensor_peak.module == "transformer.2.attention.attention"  # block 2: the second temporal block
    assert t14.peak.bytes == 1_507_147_776  # allocator view: 107,642,880*14 + 147,456, in decoder.4.conv


def test_totals(t14: RunRecord) -> None:
    assert t14.params == 34_529_155
    assert sum(s.flops for s in t14.stages.values()) == t14.flops.total  # stage rows sum to the total
    assert t14.flops.unsupported == {}
    assert t14.kernels == {"temporal_attention": "aten.bmm on cpu", "spatial_attention": "aten.bmm on cpu"}


def _flop_counter(run: RunConfig) -> dict[str, int]:
    with _fake_session().mode:
        model, inputs = build(run, subject_for(run))
        (frames,) = inputs.args
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(frames)
    return {str(k): int(v) for k, v in counter.get_flop_counts()["Global"].items()}


@pytest.mark.parametrize("t", [1, 2, 5, 14])
def test_flops_equal_flop_counter_mode(t: int) -> None:
    run = RunConfig(frames=t)
    ours = profiled(run, keep_ops=False).flops.by_op
    theirs = _flop_counter(run)
    assert set(theirs) == {"aten.convolution", "aten.addmm", "aten.bmm"}
    for op, value in theirs.items():
        assert ours[op] == value, op


def test_temporal_flops_formula_at_t14(t14: RunRecord) -> None:
    # 4 blocks * (8*t*n*d^2 + 4*t^2*n^2*d/s^2) = 4 * (8*14*720*512^2 + 4*196*720^2*512/4)
    #   = 4 * (21,139,292,160 + 52,022,476,800) = 292,647,075,840
    assert t14.stages["temporal_attention"].flops == 292_647_075_840


def test_int8_what_if_counts_one_byte_per_element() -> None:
    rec = profiled(RunConfig(frames=14, dtype="int8"), keep_ops=False)
    assert rec.stages["temporal_attention"].bytes == 101_606_400  # 14^2*720*720 * 1 B
    assert rec.tensor_peak.bytes == 1_003_806_720 // 4  # every live tensor is floating: a quarter of float32's
    assert rec.peak.bytes == 1_507_147_776 // 4  # the what-if scales workspaces and real storages alike


# The allocator peak at t=14 is in decoder.4.conv, the full-resolution 64-channel convolution: per frame
# its input, the Fold output's storage, the skip sum, decoder.3's output and its own output,
# (26,542,080 + 18,063,360 + 3,317,760 + 6,635,520 + 26,542,080) = 81,100,800 B at 4 bytes per element,
# plus what the convolution holds inside itself on this machine (test_allocator.py checks it against real
# runs). DECODER_4 is one frame's input at 240x432 without the batch.
HELD_AT_DECODER_4 = 81_100_800
DECODER_4 = ((64, 240, 432), (64, 64, 3, 3))


def test_bfloat16_halves_every_tensor() -> None:
    rec = profiled(RunConfig(frames=14, dtype="bfloat16"), keep_ops=False)
    assert rec.stages["temporal_attention"].bytes == 203_212_800  # 101,606,400 * 2 B
    assert rec.tensor_peak.bytes == 1_003_806_720 // 2
    # Tensors halve on every CPU; the workspace does only where oneDNN runs bfloat16 convolutions (AVX-512:
    # 26,542,080 * 14 / 2 + 73,728 = 185,868,288, a peak of 1,507,147,776 // 2). Without native bfloat16,
    # ATen unfolds the input, 3x3 * 64 channels * 240*432 * 2 B = 119,439,360 B per frame, and the peak
    # grows past float32's: 567,705,600 + 1,672,151,040 = 2,239,856,640.
    workspace = conv_workspace(*DECODER_4, "bfloat16", 14)
    assert (rec.peak.module, rec.peak.bytes) == ("decoder.4.conv", HELD_AT_DECODER_4 * 14 // 2 + workspace)


def test_t1024_runs_on_fake_tensors() -> None:
    rec = profiled(RunConfig(frames=1024), keep_ops=False)
    assert rec.stages["temporal_attention"].elements == 543_581_798_400  # 1024^2*720*720
    assert rec.stages["temporal_attention"].bytes == 2_174_327_193_600  # * 4 B: 2.2 TB, never allocated


def test_480x864_and_a_variant() -> None:
    big = profiled(RunConfig(frames=14, height=480, width=864), keep_ops=False)
    assert big.stages["temporal_attention"].elements == 1_625_702_400  # 14^2*2880*2880
    assert big.stages["temporal_attention"].formula_substituted == "t^2*2880*2880"
    assert big.stages["spatial_attention"].elements == 464_486_400  # 14*4*2880*2880
    var = profiled(build_run(14, "480x864", model_args={"heads": 8, "zones": 4}), keep_ops=False)
    ta = var.stages["temporal_attention"]
    assert ta.shape == (1, 16, 8, 2520, 2520)  # s^2 = 16 zones, k = 8, 14*2880/16 = 2520 tokens a zone
    assert ta.elements == 812_851_200  # k*t^2*n^2/s^2 = 8*196*2880^2/16
    assert ta.formula_substituted == "t^2*2880*2880/2"
    assert var.stages["spatial_attention"].elements == 928_972_800  # 14*8*2880*2880
    assert all(c.passed for c in big.checks + var.checks)


def test_batch_scales_everything() -> None:
    rec = profiled(RunConfig(frames=14, batch=2), keep_ops=False)
    assert rec.stages["temporal_attention"].elements == 203_212_800  # 2*14^2*720*720
    assert rec.stages["temporal_attention"].formula_substituted == "2*t^2*720*720"
    assert rec.tensor_peak.bytes == 2 * 1_003_806_720
    # allocator view: per-frame bytes double, the weight reorder inside the op is counted once
    # 107,642,880 * 28 + 147,456 = 3,014,148,096
    assert rec.peak.bytes == 3_014_148_096


def test_sdpa_never_materialises_the_matrix() -> None:
    rec = profiled(build_run(14, model_args={"attention": "sdpa"}), keep_ops=False)
    ta = rec.stages["temporal_attention"]
    assert not ta.materialised
    assert ta.elements == 5_160_960  # largest tensor is a token tensor: t*n*d = 14*720*512
    assert ta.formula == "t*n*d"
    assert ta.match
    assert rec.kernels["temporal_attention"] == "aten._scaled_dot_product_flash_attention_for_cpu on cpu"
    assert rec.stages["temporal_attention"].flops == 292_647_075_840  # the same products, fused
    # No t^2 matrix: both peaks are in the decoder. Tensor view, at decoder.4.conv, per frame: its input
    # 26,542,080 + its output 26,542,080 + the Fold output 3,317,760 + the skip sum 3,317,760
    # + decoder.3's output 6,635,520 = 66,355,200; * 14 = 928,972,800
    assert (rec.tensor_peak.stage, rec.tensor_peak.bytes) == ("decoder", 928_972_800)
    assert (rec.peak.stage, rec.peak.bytes) == ("decoder", 1_507_147_776)  # as with matmul attention
