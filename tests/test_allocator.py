"""The allocator view: what a real run's allocator holds, predicted op by op and checked against real runs.

The released generator's own allocator events (tests/data/released_cpu_allocations.json: CPU, torch
2.13.0, fp32, 240x432, t = 1 and 2, recorded on an AVX-512 CPU) are the reference: `model/dstt.py` must
allocate and release what it does, event for event outside oneDNN's convolutions (whose scratch belongs to
the CPU), and the fake-tensor prediction must equal this machine's real pass op by op.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from traces import profiled

from dstt_profile.cli.main import main
from dstt_profile.engine.allocations import BETWEEN_OPS, record_allocations
from dstt_profile.engine.devicecheck import compare
from dstt_profile.engine.devicerules import CUDA_ROUND, DeviceRules
from dstt_profile.engine.trace import WORKSPACE_RULE
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.runs import build_run
from model import DSTTConfig, InpaintGenerator

REFERENCE = json.loads((Path(__file__).parent / "data" / "released_cpu_allocations.json").read_text())


def _released_style_events(t: int) -> list[list[Any]]:
    """(innermost aten op, signed bytes) of one forward pass, recorded as the reference was: zeros
    input, eval, no grad, after one warm-up pass."""
    model = InpaintGenerator(DSTTConfig()).eval()
    x = torch.zeros(1, t, 3, 240, 432)
    with torch.no_grad():
        model(x)
        log, _ = record_allocations(lambda: (model(x), None)[1])  # the output is released inside, as recorded
    return [[e.op, e.bytes] for e in log.events]


INSIDE_ONEDNN = "aten::mkldnn_convolution"  # its scratch is the machine's: blocked copies, reordered weights
SAME_MACHINE = REFERENCE["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


@pytest.mark.parametrize("t", [1, 2])
def test_model_allocates_what_the_released_generator_does(t: int) -> None:
    reference = [[op, nbytes] for op, nbytes, _live in REFERENCE["runs"][str(t)]["events"]]
    ours = _released_style_events(t)
    # Every event outside oneDNN's convolutions holds on any CPU: the storages of op outputs and the frees,
    # which carry the lifetimes (444 such events at t=1). What oneDNN holds inside a convolution is checked
    # against this machine's real runs op by op (the next test); on the reference's own kind of CPU it
    # must equal the reference's too.
    def outside(events: list[list[Any]]) -> list[list[Any]]:
        return [e for e in events if e[0] != INSIDE_ONEDNN]

    assert outside(ours) == outside(reference)
    assert len(outside(ours)) == {1: 444, 2: 468}[t]
    if SAME_MACHINE:
        assert ours == reference and len(ours) == {1: 528, 2: 552}[t]
    # among them the two releases that depend on which local holds what: the transformer's output tokens
    # before the skip add (t*720*512*4 B) and the Fold output, whose storage is Fold's input-sized
    # (t*6272*720*4 B), at the very end, after the decoder
    assert [BETWEEN_OPS, -1_474_560 * t] in ours and ours[-2] == [BETWEEN_OPS, -18_063_360 * t]


@pytest.mark.parametrize("attention", ["matmul", "sdpa"])
@pytest.mark.parametrize("t", [1, 2])
def test_fake_trace_equals_real_allocator_op_by_op(t: int, attention: str) -> None:
    fake, differences = compare(run := build_run(t, model_args={"attention": attention}), subject_for(run))
    assert [str(d) for d in differences] == []  # every op's figures equal this machine's real pass
    # the peak of the released generator, in decoder.4.conv (reference: 107,790,336 B at t=1, AVX-512)
    if SAME_MACHINE:
        assert fake.allocator_peak_bytes == REFERENCE["runs"][str(t)]["peak_bytes"]
    applied = {name.partition("*")[0] for op in fake.ops for name in op.rules.split(",") if name}
    expected = {
        "cpu.col2im.input_sized_output",
        "cpu.col2im.contiguous_input",
        "cpu.native_layer_norm.contiguous_input",
        "cpu.upsample_bilinear2d.tables",
        WORKSPACE_RULE,
    }
    expected |= {"cpu.scalar_operand"} if attention == "matmul" else {"cpu.flash_attention.thread_buffers"}
    assert applied == expected


@pytest.mark.parametrize(("dtype", "attention"), [("bfloat16", "matmul"), ("float16", "sdpa")])
def test_half_precision_equals_real_allocator_op_by_op(dtype: str, attention: str) -> None:
    """Half precision takes other kernels on other CPUs (oneDNN's with native support, ATen's own that
    unfold the input without it): whichever this machine runs, every op equals its real pass."""
    run = build_run(1, "120x216", dtype=dtype, model_args={"attention": attention})
    fake, differences = compare(run, subject_for(run))
    assert [str(d) for d in differences] == []
    assert fake.allocator_peak_bytes > fake.tensor_peak_bytes  # the workspaces are in it


def test_allocator_peak_at_t14() -> None:
    run = profiled(RunConfig(frames=14), keep_ops=False)
    # Held when decoder.4.conv (the full-resolution 64-channel convolution) starts, per frame (240x432, fp32):
    #   its input, the bilinear x2 output, 64*240*432*4        = 26,542,080
    #   the Fold output, kept by the forward's local; its storage is Fold's input, 6272*720*4 = 18,063,360
    #   the skip sum enc + Fold output, 128*60*108*4           =  3,317,760
    #   decoder.3's output, held by nn.Sequential meanwhile, 64*120*216*4 = 6,635,520
    # and at its highest point inside the op oneDNN's blocked copies of input and output, 2 * 26,542,080, plus
    # the reordered weight, once: 64*64*3*3*4 = 147,456. The plain output it returns (26,542,080) is allocated
    # only after the weight and the input copy are released (the real allocator's events, on AVX-512 and AVX2).
    held, inside = 26_542_080 + 18_063_360 + 3_317_760 + 6_635_520, 2 * 26_542_080  # 54,558,720 + 53,084,160
    assert (held + inside) * 14 + 147_456 == 107_642_880 * 14 + 147_456 == 1_507_147_776
    assert (run.peak.bytes, run.peak.stage, run.peak.module) == (1_507_147_776, "decoder", "decoder.4.conv")
    # the op's record holds its output after it returns; its workspace is what it held above that inside it
    assert run.peak.transient_bytes == (inside - 26_542_080) * 14 + 147_456 == 371_736_576
    # the tensor view stays beside it: two t^2 temporal matrices and their company
    assert (run.tensor_peak.bytes, run.tensor_peak.stage) == (1_003_806_720, "temporal_attention")
    assert "calibrated on this machine" in run.peak.basis


def test_memory_tensors_shows_the_tensor_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "2", "--memory", "tensors", "--out", str(tmp_path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "tensor view" in out and "of tensors only" in out
    saved = json.loads(next(tmp_path.glob("*_tensors.json")).read_text())
    peak = saved["runs"][0]["peak"]
    assert peak["bytes"] == 215_433_216  # the JSON's peak.bytes is always the allocator view
    assert saved["runs"][0]["config"]["memory"] == "tensors"


def test_fold_storage_is_input_sized_on_cpu() -> None:
    fold = nn.Fold(output_size=(12, 24), kernel_size=7, stride=3, padding=3)
    x = torch.zeros(2, 128 * 49, 32).transpose(1, 2).contiguous().transpose(1, 2)  # non-contiguous, as in DSTT
    out = fold(x)
    # real: the output's storage is the input's size, 2*6272*32*4 = 1,605,632 B, not 2*128*12*24*4 = 294,912 B
    assert out.untyped_storage().nbytes() == 1_605_632 and out.numel() * 4 == 294_912
    rule = DeviceRules("cpu").storage_rule("aten.col2im")
    assert rule is not None and rule.bytes((x,), {}, out) == 1_605_632


def test_cuda_rounds_every_block_to_512_bytes() -> None:
    rule = DeviceRules("cuda").storage_rule("aten.addmm")
    assert rule is not None and CUDA_ROUND == 512
    t = torch.zeros(3)  # 12 bytes -> one 512-byte block
    assert rule.bytes((), {}, t) == 512
    assert rule.bytes((), {}, torch.zeros(129)) == 1024  # 516 bytes -> two blocks
    assert DeviceRules("cuda").temporary_rule("aten.col2im") is None  # CPU kernels' temporaries are CPU's
