"""Measured mode: peak meters, kernel workspaces, the allocator peak, and real runs beside predictions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import torch
from traces import conv_signature

from dstt_profile.api import measured_run
from dstt_profile.cli.main import main
from dstt_profile.engine.allocations import AllocEvent, net_peak
from dstt_profile.engine.calibrate import Workspace, WorkspaceError, calibrate
from dstt_profile.engine.convsig import ConvSignature, signature_of
from dstt_profile.engine.measure import GLUE, error_pct, stage_roots
from dstt_profile.engine.meters import CpuProfilerMeter
from dstt_profile.engine.trace import WORKSPACE_RULE, trace
from dstt_profile.engine.workspace import WorkspaceCache
from dstt_profile.profiles.dstt.args import config_of
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result
from dstt_profile.runs import build_run
from model import InpaintGenerator

R = TypeVar("R")
SMALL = "48x96"  # h' = 12, w' = 24: every stage present, real runs in milliseconds


def test_net_peak_is_the_highest_running_sum() -> None:
    # +100, +50 (150), -100 (50), +200 (250), -250 (0): peak 250
    live = [100, 150, 50, 250, 0]
    events = [AllocEvent("aten::empty", b, v, "") for b, v in zip([100, 50, -100, 200, -250], live)]
    assert net_peak(events) == 250
    assert net_peak([]) == 0


def test_cpu_meter_sees_a_temporary() -> None:
    def call() -> torch.Tensor:
        scratch = torch.ones(1000, 1000)  # 4,000,000 B, released before returning
        return scratch.sum(dim=0)  # 4,000 B returned

    peak, out = CpuProfilerMeter().peak(call)
    assert out.numel() == 1000
    assert peak == 4_004_000  # both alive while sum runs: 1000*1000*4 + 1000*4


def test_error_pct() -> None:
    assert error_pct(102, 100) == pytest.approx(2.0)
    assert error_pct(98, 100) == pytest.approx(-2.0)
    assert error_pct(0, 0) == 0.0


class _AffineMeter:
    """A meter that reports the call's output plus 1000 + per_sample(batch) bytes of workspace."""

    method = "synthetic"

    def __init__(self, per_sample: Callable[[int], int] = lambda n: 300 * n) -> None:
        self.per_sample = per_sample
        self.calls = 0

    def peak(self, call: Callable[[], R]) -> tuple[int, R]:
        self.calls += 1
        out = call()
        assert isinstance(out, torch.Tensor)
        return out.numel() * out.element_size() + 1000 + self.per_sample(out.shape[0]), out


_SIG = conv_signature((2, 8, 8), (4, 2, 3, 3))


def test_calibrate_fits_an_affine_workspace_and_checks_it() -> None:
    meter = _AffineMeter()
    ws = calibrate(_SIG, meter)
    # probed at batch 1, 2 (fit) and 3 (check): 1000 + 300*n
    assert ws == Workspace(at_one=1300, constant=1000, per_sample=300, checked=3)
    assert ws.at(14) == 1000 + 300 * 14 and meter.calls == 3 and ws.affine


def test_calibrate_refits_when_batch_one_is_special() -> None:
    # 5000 at batch 1, then 1000 + 300*n: fitted on 2, 3 and checked at 4
    ws = calibrate(_SIG, _AffineMeter(lambda n: 4300 if n == 1 else 300 * n))
    assert ws == Workspace(at_one=5300, constant=1000, per_sample=300, checked=4)


def test_a_workspace_that_is_not_affine_is_probed_per_batch(tmp_path: Path) -> None:
    meter = _AffineMeter(lambda n: 300 * n * n)
    ws = calibrate(_SIG, meter)  # no fit from batch 1, 2 or 3: probed at 1..5
    assert not ws.affine and ws.at(3) == 1000 + 300 * 9 and ws.at(5) == 1000 + 300 * 25 and ws.at(6) is None
    cache = WorkspaceCache("cpu", tmp_path / "ws.json", meter)
    assert cache.bytes_at(_SIG, 6) == 1000 + 300 * 36  # probed at batch 6 itself
    assert meter.calls == 5 + 5 + 1  # calibrate above, calibrate in the cache, then batch 6


def test_a_workspace_affine_from_batch_3_is_fitted_there() -> None:
    """oneDNN may pick other kernels at batches 1 and 2 and one from 3 on (a 128-channel 3x3 convolution
    at 12x72 on AVX2: 1,622,016 and 2,064,384 B, then 2,654,208 + 884,736*(n - 3))."""
    special = {1: 1_622_016, 2: 2_064_384}
    meter = _AffineMeter(lambda n: special.get(n, 2_654_208 + 884_736 * (n - 3)) - 1000)
    ws = calibrate(_SIG, meter)
    assert (ws.checked, ws.first_affine, ws.exact) == (5, 3, ((2, 2_064_384),))
    assert [ws.at(n) for n in (1, 2, 3, 3000)] == [1_622_016, 2_064_384, 2_654_208, 2_654_208 + 884_736 * 2997]
    assert meter.calls == 5


def test_a_workspace_that_is_not_affine_is_not_probed_beyond_the_limit(tmp_path: Path) -> None:
    cache = WorkspaceCache("cpu", tmp_path / "ws.json", _AffineMeter(lambda n: 300 * n * n))
    # 2*8*8*4 = 512 B per sample: batch 2**21 needs a 1 GiB input, one more sample is over the limit
    with pytest.raises(WorkspaceError, match="no affine way"):
        cache.bytes_at(_SIG, 2**21 + 1)


def test_signature_is_read_from_the_ops_arguments() -> None:
    x, w = torch.zeros(5, 2, 8, 8), torch.zeros(4, 2, 3, 3)
    sig, batch = signature_of((x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1), {})
    assert batch == 5 and sig == ConvSignature((2, 8, 8), (4, 2, 3, 3), False, (1, 1), (1, 1), (1, 1), False, (0, 0), 1, "float32", "cpu", "contiguous")


def test_workspace_cache_calibrates_once_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "ws.json"
    first = WorkspaceCache("cpu", path, _AffineMeter())
    assert first.workspace(_SIG).at(2) == 1600 and first.calibrated == 1
    first.save()
    again_meter = _AffineMeter()
    again = WorkspaceCache("cpu", path, again_meter)
    assert again.workspace(_SIG).at(2) == 1600
    assert again.calibrated == 0 and again_meter.calls == 0  # from disk: nothing probed
    saved = json.loads(path.read_text())
    assert saved["schema"] == "dstt-profile-workspaces/1" and list(saved["machines"]) == [again.machine]


def test_workspace_cache_ignores_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "ws.json"
    path.write_text("{not json")
    cache = WorkspaceCache("cpu", path, _AffineMeter())
    assert cache.workspace(_SIG).at(1) == 1300 and cache.calibrated == 1


def test_workspaces_enter_the_trace_of_every_convolution(tmp_path: Path) -> None:
    cache = WorkspaceCache("cpu", tmp_path / "ws.json", _AffineMeter())
    tr = trace(run := build_run(2, SMALL), subject_for(run), workspaces=cache)
    convs = [o for o in tr.ops if o.op == "aten.convolution"]
    assert len(convs) == 14  # encoder 4, hier_enc 5, patch2vec 1, decoder 4
    # batch b*t = 2 for every convolution: 1000 + 300*2 synthetic workspace bytes inside each
    assert all(o.transient_bytes == 1600 and WORKSPACE_RULE in o.rules for o in convs)
    assert cache.calibrated == 14  # every convolution of this model has its own signature
    # the allocator peak is the highest of (held after the op + what the op holds inside itself)
    assert tr.allocator_peak_bytes == max(o.held_bytes + o.transient_bytes for o in tr.ops)


def test_stage_roots_of_the_released_layout() -> None:
    cfg = config_of(RunConfig(frames=1))
    with torch.device("meta"):
        model = InpaintGenerator(cfg, init_weights=False)
    roots = stage_roots(model, subject_for(RunConfig()).stage_of)
    assert roots["encoder"] == "encoder" and roots["decoder"] == "decoder" and roots["patch2vec"] == "he_output"
    assert roots["transformer.0.attention"] == "temporal_attention"  # blocks 0, 2, 4, 6 are temporal
    assert roots["transformer.1.attention"] == "spatial_attention"
    assert roots["transformer.0.ffn"] == "ffn"
    assert "transformer.0.attention.attention" not in roots  # inside a root of the same stage
    ffn_roots = sorted(n for n, s in roots.items() if s == "ffn")
    assert len(ffn_roots) == 16  # per block: norm2 and ffn, 8 blocks


@pytest.fixture(scope="module")
def measured_small() -> object:
    return measured_run(build_run(2, SMALL), repeats=2)


def test_measured_run_beside_prediction(measured_small: object) -> None:
    from dstt_profile.records.schema import RunRecord

    assert isinstance(measured_small, RunRecord)
    m = measured_small.measured
    assert m is not None
    # the op recorder on real tensors sees exactly the tensors the fake trace predicted
    assert m.real_tensor_peak_bytes == m.predicted_tensor_peak_bytes == measured_small.tensor_peak.bytes
    assert all(e == 0.0 for e in m.headline_error_pct.values())
    # k*t^2*n^2/s^2 with n = (48/4/3)*(96/4/3) = 32 tokens per frame: 4*4*1024/4 = 4096
    assert m.headline_elements["temporal_attention"] == 4096
    # the default prediction (allocator view) is the measured allocator peak, to the byte
    assert m.predicted_allocator_peak_bytes == measured_small.peak.bytes == m.measured_peak_bytes
    assert m.peak_error_pct == 0.0
    assert m.predicted_allocator_peak_bytes > m.predicted_tensor_peak_bytes
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
    from dstt_profile.engine.meters import CudaMeter, meter_for

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
