"""Calibration within the machine: a probe that may not fit is refused in one line before it runs, and
a workspace whose kernel changes at small batches is still fitted, so no large batch is ever probed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from traces import conv_signature

from dstt_profile.cli.main import main
from dstt_profile.engine import calibrate as calibration
from dstt_profile.engine import workspace
from dstt_profile.engine.calibrate import calibrate, probe, probe_need
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.meters import CpuProfilerMeter
from dstt_profile.engine.workspace import WorkspaceCache


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(workspace.CACHE_ENV, str(folder))
    workspace.set_default_cache("cpu", None)
    yield folder
    workspace.set_default_cache("cpu", None)


def test_a_probe_that_may_not_fit_is_refused_before_it_runs(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(calibration, "available_bytes", lambda: (1 << 20, "the address space limit (ulimit -v)"))
    assert main(["--frames", "1", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    # the first convolution, 3 -> 64 channels at 240x432, batch 1: input 3 + 16 padded channels, output
    # 2*64 + 64 (stride 2: 120x216), weight twice: (240*432*19 + 120*216*192 + 2*64*3*3*3) * 4 B = 27,800,064 B
    assert probe_need(_first_conv(), 1) == 27_800_064
    assert err == (
        "dstt-profile: error: calibrating a convolution's workspace (weight (64, 3, 3, 3), input (3, 240, 432), "
        "float32) runs it for real at batch 1, which may need 26.5 MiB, and the address space limit (ulimit -v) "
        "leaves 1.0 MiB: use a smaller frame size, t or batch"
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def _first_conv() -> ConvSignature:
    return conv_signature((3, 240, 432), (64, 3, 3, 3), stride=2)


def test_a_frame_size_no_machine_holds_is_one_line(empty_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "1", "--res", "100000x100000", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    # (10^10 * 19 + 0.25 * 10^10 * 192 + 3,456) * 4 B = 2.68 * 10^12 B, 2.4 TiB
    assert err.startswith("dstt-profile: error: calibrating a convolution's workspace (weight (64, 3, 3, 3), input (3, 100000, 100000)")
    assert "which may need 2.4 TiB" in err and len(err.splitlines()) == 1


def test_a_workspace_affine_only_from_batch_3_extrapolates_exactly() -> None:
    """The hierarchical encoder's 128 -> 256 channel convolution at 12x72 (DSTT at 48x288): oneDNN may
    change kernels at batches 1 and 2 (it does on AVX2). Whatever this machine does, the fit equals a
    real call at batches it never probed."""
    sig = conv_signature((128, 12, 72), (256, 128, 3, 3))
    meter = CpuProfilerMeter()
    ws = calibrate(sig, meter)
    assert ws.affine and ws.first_affine in (1, 2, 3)
    assert [ws.at(n) for n in (7, 16)] == [probe(sig, n, meter) for n in (7, 16)]
    # so DSTT at t = 3000 (batch 3000) needs no probe of 3000 samples
    cache = WorkspaceCache("cpu", None, meter)
    cache.entries[sig.key()] = ws
    assert cache.bytes_at(sig, 3000) == ws.constant + ws.per_sample * 3000
