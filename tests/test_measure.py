"""Measured mode: peak meters, kernel workspaces, the allocator peak, and real runs beside predictions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import torch
from torch import nn

from dstt_profile.api import profile_run
from dstt_profile.cli import main
from dstt_profile.measure import GLUE, error_pct, measure, stage_roots
from dstt_profile.meters import CpuProfilerMeter, net_peak
from dstt_profile.records import Result
from dstt_profile.runconfig import RunConfig
from dstt_profile.workspace import WorkspaceError, allocator_peak, conv_workspaces, probe
from model import InpaintGenerator

R = TypeVar("R")
SMALL = {"height": 48, "width": 96}  # h' = 12, w' = 24: every stage present, real runs in milliseconds


def test_net_peak_is_the_highest_running_sum() -> None:
    # +100, +50 (150), -100 (50), +200 (250), -250 (0): peak 250
    assert net_peak([(1, 100), (2, 50), (3, -100), (4, 200), (5, -250)]) == 250
    assert net_peak([]) == 0


def test_cpu_meter_sees_a_temporary() -> None:
    def call() -> torch.Tensor:
        scratch = torch.ones(1000, 1000)  # 4,000,000 B, released before returning
        return scratch.sum(dim=0)  # 4,000 B returned

    peak, out = CpuProfilerMeter().peak(call)
    assert out.numel() == 1000
    assert peak >= 4_004_000  # both alive while sum runs: 1000*1000*4 + 1000*4


def test_error_pct() -> None:
    assert error_pct(102, 100) == pytest.approx(2.0)
    assert error_pct(98, 100) == pytest.approx(-2.0)
    assert error_pct(0, 0) == 0.0


class _AffineMeter:
    """A meter that reports the call's output plus 1000 + 300*batch bytes of workspace."""

    method = "synthetic"

    def __init__(self, per_sample: Callable[[int], int] = lambda n: 300 * n) -> None:
        self.per_sample = per_sample

    def peak(self, call: Callable[[], R]) -> tuple[int, R]:
        out = call()
        assert isinstance(out, torch.Tensor)
        return out.numel() * out.element_size() + 1000 + self.per_sample(out.shape[0]), out


def test_probe_extrapolates_an_affine_workspace() -> None:
    conv = nn.Conv2d(2, 4, 3, padding=1)
    assert probe(conv, (2, 8, 8), _AffineMeter(), "cpu", torch.float32) == (1000, 300)  # from batches 2, 3, 4


def test_probe_refuses_a_workspace_that_is_not_affine() -> None:
    conv = nn.Conv2d(2, 4, 3, padding=1)
    with pytest.raises(WorkspaceError, match="not affine"):
        probe(conv, (2, 8, 8), _AffineMeter(lambda n: 300 * n * n), "cpu", torch.float32)


def test_large_inputs_use_the_extrapolated_workspace() -> None:
    record = profile_run(RunConfig(frames=3, **SMALL))
    direct = conv_workspaces(record, _AffineMeter())
    extrapolated = conv_workspaces(record, _AffineMeter(), direct_limit=0)
    assert direct == extrapolated  # the synthetic workspace is affine, so both ways agree
    assert direct["decoder.6"] == 1000 + 300 * 3  # batch b*t = 3


def test_allocator_peak_adds_the_workspace_of_the_op_running() -> None:
    record = profile_run(RunConfig(frames=2, **SMALL))
    # a huge workspace on the last convolution moves the allocator peak onto it
    last_conv = [o for o in record.ops if o.op == "aten.convolution"][-1]
    found = allocator_peak(record, {last_conv.module: 10**9})
    assert found.op.index == last_conv.index
    assert found.bytes == last_conv.live_bytes + 10**9
    # no workspace: the allocator peak is the tensor peak
    assert allocator_peak(record, {}).bytes == record.peak.bytes


def test_stage_roots_of_the_released_layout() -> None:
    cfg = RunConfig(frames=1).model_config()
    with torch.device("meta"):
        model = InpaintGenerator(cfg, init_weights=False)
    roots = stage_roots(model, cfg.block_kind)
    assert roots["encoder"] == "encoder" and roots["decoder"] == "decoder" and roots["patch2vec"] == "he_output"
    assert roots["transformer.0.attention"] == "temporal_attention"  # blocks 0, 2, 4, 6 are temporal
    assert roots["transformer.1.attention"] == "spatial_attention"
    assert roots["transformer.0.ffn"] == "ffn"
    assert "transformer.0.attention.attention" not in roots  # inside a root of the same stage
    ffn_roots = sorted(n for n, s in roots.items() if s == "ffn")
    assert len(ffn_roots) == 16  # per block: norm2 and ffn, 8 blocks


@pytest.fixture(scope="module")
def measured_small() -> object:
    return measure(RunConfig(frames=2, **SMALL), repeats=2)


def test_measured_run_beside_prediction(measured_small: object) -> None:
    from dstt_profile.records import RunRecord

    assert isinstance(measured_small, RunRecord)
    m = measured_small.measured
    assert m is not None
    # the op recorder on real tensors sees exactly the tensors the fake trace predicted
    assert m.real_tensor_peak_bytes == m.predicted_peak_bytes == measured_small.peak.bytes
    assert all(e == 0.0 for e in m.headline_error_pct.values())
    # k*t^2*n^2/s^2 with n = (48/4/3)*(96/4/3) = 32 tokens per frame: 4*4*1024/4 = 4096
    assert m.headline_elements["temporal_attention"] == 4096
    # the allocator prediction is within the 2% target; the tensor peak alone misses the workspaces
    assert abs(m.peak_error_pct) <= 2.0
    assert m.predicted_allocator_peak_bytes >= m.predicted_peak_bytes
    assert m.workspaces and all(v >= 0 for v in m.workspaces.values())
    assert set(m.stage_seconds) >= {"encoder", "temporal_attention", "spatial_attention", "ffn", "decoder", GLUE}
    assert m.forward_seconds > 0 and m.repeats == 2
    assert m.rss_peak_bytes >= m.rss_before_bytes > 0


def test_measured_record_round_trips(measured_small: object) -> None:
    result = Result((measured_small,))  # type: ignore[arg-type]
    again = Result.from_json(result.to_json())
    assert again == result


def test_cli_measure_writes_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--frames", "1", "--res", "48x96", "--measure", "--repeats", "1", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "measured peak" in out and "predicted allocator peak" in out and "wall ms (median)" in out
    saved = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert saved["runs"][0]["measured"]["repeats"] == 1
    html = next(tmp_path.glob("*.html")).read_text()
    assert "Predicted against measured" in html and 'class="measured-table"' in html


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--measure", "--repeats", "0"], "--repeats must be at least 1"),
        (["--measure", "--mode", "train"], "--measure runs the forward pass"),
    ],
)
def test_cli_measure_bad_input_exits_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--frames", "1", "--res", "48x96", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cuda_meter_reads_the_peak_above_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU here: the CUDA calls are replaced by a recording stand-in, to check the order and arithmetic.
    from dstt_profile.meters import CudaMeter, meter_for

    calls: list[str] = []
    state = {"allocated": 1000, "max": 1000}
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(
        torch.cuda, "reset_peak_memory_stats", lambda device=None: (calls.append("reset"), state.update(max=state["allocated"]))
    )
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: state["allocated"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: state["max"])

    def forward() -> str:
        calls.append("forward")
        state["max"] = state["allocated"] + 5000  # 5,000 B above the start at the highest point
        return "out"

    peak, out = CudaMeter(torch.device("cuda")).peak(forward)
    assert (peak, out) == (5000, "out")  # max_memory_allocated 6,000 - 1,000 allocated before
    assert calls == ["sync", "reset", "forward", "sync"]
    assert isinstance(meter_for("cuda"), CudaMeter) and isinstance(meter_for("cpu"), CpuProfilerMeter)
