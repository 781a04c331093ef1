"""`dstt-profile verify`: the prediction against this machine's real passes, op by op; exit 0 only when
every op and the peak are equal."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dstt_profile.cli.main import main
from dstt_profile.engine import devicerules

TINY = f"{Path(__file__).resolve().parent / 'models' / 'tinyvideo.py'}:TinyVideoNet"


def test_builtin_model_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--res", "48x96"]) == 0
    out = capsys.readouterr().out.splitlines()
    # t = 1 and 2 by default; DSTT runs 507 ops at t=1 and 519 at t=2 (the temporal blocks' reshapes)
    threads = torch.get_num_threads()
    assert out[0].startswith(f"t=1 48x96 float32 b=1 {threads} threads attention=matmul") and " 507 ops compared; " in out[0]
    assert out[3].startswith(f"t=2 48x96 float32 b=1 {threads} threads") and " 519 ops compared; " in out[3]
    assert "workspace.convolution x14" in out[1]  # the network's 14 convolutions
    assert out[2] == out[5] == "  every op equal: held and inside-op bytes, integer for integer"
    assert out[-1] == "verified: the prediction equals this machine's allocator"


def test_user_model_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--model", TINY, "--res", "32x32", "--frames", "1,4"]) == 0
    out = capsys.readouterr().out.splitlines()
    threads = torch.get_num_threads()
    assert [line.split(":")[0] for line in out if line.startswith("t=")] == [
        f"t=1 32x32 float32 b=1 {threads} threads", f"t=4 32x32 float32 b=1 {threads} threads"
    ]
    # 38 ops at t=1, 39 at t=4 (the attention's reshape is a view at t=1 only)
    assert " 38 ops compared; " in out[0] and " 39 ops compared; " in out[3]


def test_a_deployment_thread_count_is_verified(capsys: pytest.CaptureFixture[str]) -> None:
    """Predicted and run at 8 threads, whatever this machine has: the flash-attention kernel's per-thread
    buffers are 8 times one thread's, and every op still equals the real pass."""
    assert main(["verify", "--res", "48x96", "--frames", "2", "--attention", "sdpa", "--threads", "8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("t=2 48x96 float32 b=1 8 threads attention=sdpa")
    assert "cpu.flash_attention.thread_buffers x8" in out[1]  # one attention per transformer block, 8 blocks


def test_a_wrong_rule_fails_with_the_first_op(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Bilinear tables one byte too large: verify exits 1 and names the op and the rule."""
    rules = tuple(
        devicerules.TemporaryRule(r.name, r.device, r.op, r.what, r.params, lambda p, f=r.bytes: f(p) + 1)
        if r.name == "cpu.upsample_bilinear2d.tables"
        else r
        for r in devicerules.TEMPORARY_RULES
    )
    monkeypatch.setattr(devicerules, "TEMPORARY_RULES", rules)
    assert main(["verify", "--res", "48x96", "--frames", "1"]) == 1
    out = capsys.readouterr().out
    # decoder.0 doubles 12x24 to 24x48 (128 channels): an output this small (24+48 <= 128) is computed
    # channels-last, input and output copied: 128*12*24*4 + 128*24*48*4 = 737,280 B, predicted 737,281;
    # decoder.4 doubles 24x48 to 48x96 with tables: 2*(48+96)*(8+4) = 3,456 B, predicted 3,457
    assert (
        "  2 figures differ; the first: op #497 aten.upsample_bilinear2d in decoder.0: transient predicted 737,281 B, "
        "measured 737,280 B (cpu.upsample_bilinear2d.tables)"
    ) in out
    assert "op #502 aten.upsample_bilinear2d in decoder.4: transient predicted 3,457 B, measured 3,456 B" in out
    assert out.rstrip().endswith("NOT verified: see the first difference above")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dtype", "int8"], "verify: int8 is a storage what-if computed in float32"),
        (["--mode", "train"], "verify runs the forward pass: use --mode inference"),
        (["--out", "x"], "verify: --out does not apply here"),
    ],
)
def test_verify_refuses_in_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--res", "48x96", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
