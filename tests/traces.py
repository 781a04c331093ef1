"""One cache of fake-tensor runs for the whole test run, keyed by RunConfig.

A trace costs about a second and many test files ask for the same configurations (t = 14 at 240x432
above all), so each configuration is traced and summarised once per session and every test reads its
record from here: `profiled(config, keep_ops)` is `api.profile_run(config, keep_ops=keep_ops)`, made
once. Only the records are kept, never the traces: a trace holds every op's tensors' metadata, and
keeping dozens alive makes every garbage collection of the session walk them (tests/test_analysis.py
took 1.7 times as long). Real-tensor runs are never cached.
"""

from __future__ import annotations

from functools import cache, partial
from pathlib import Path

import torch

from dstt_profile.api import profile_run
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.meters import meter_for
from dstt_profile.engine.trace import build
from dstt_profile.engine.workspace import default_cache
from dstt_profile.profiles.registry import normalised, subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord

T14 = RunConfig(frames=14)  # the main job's configuration: t = 14, 240x432, float32, matmul


def profiled(config: RunConfig, keep_ops: bool = True) -> RunRecord:
    """`api.profile_run(config, keep_ops=keep_ops)`, made once per session (real runs: each time)."""
    if config.real:
        return profile_run(config, keep_ops=keep_ops)
    return _profiled(config, keep_ops)


@cache
def _profiled(config: RunConfig, keep_ops: bool) -> RunRecord:
    return profile_run(config, keep_ops=keep_ops)


def result(*configs: RunConfig, keep_ops: bool = True) -> Result:
    """A Result of `configs`, each from the shared cache."""
    return Result(tuple(profiled(c, keep_ops) for c in configs))


@cache
def real_peak(config: RunConfig) -> int:
    """What this machine's allocator really holds at most during one forward pass of `config`, above the
    weights and the input (warm, eval, no grad; profiler memory events on CPU): the same-machine truth
    that a figure depending on the CPU (oneDNN's blocked copies, ATen's own half-precision kernels) is
    checked against, never a constant from another machine."""
    run = normalised(config).replace(real=True)
    model, inputs = build(run, subject_for(run))
    model.eval()
    with torch.no_grad():
        inputs.call(model)  # warm-up, as every measured pass
        peak, out = meter_for(run.device).peak(partial(inputs.call, model))
    del out, model, inputs
    return int(peak)


def conv_signature(
    sample: tuple[int, ...],
    weight: tuple[int, ...],
    dtype: str = "float32",
    *,
    stride: int = 1,
    padding: int = 1,
    dilation: int = 1,
    groups: int = 1,
    layout: str = "contiguous",
) -> ConvSignature:
    """A convolution with bias as the engine reads one from its arguments: `sample` is one sample's input
    shape, every spatial parameter the same along each dimension."""
    dims = len(weight) - 2
    return ConvSignature(
        sample=sample, weight=weight, bias=True, stride=(stride,) * dims, padding=(padding,) * dims,
        dilation=(dilation,) * dims, transposed=False, output_padding=(0,) * dims, groups=groups, dtype=dtype,
        device="cpu", layout=layout,
    )


def conv_workspace(sample: tuple[int, ...], weight: tuple[int, ...], dtype: str, batch: int, padding: int = 1) -> int:
    """This machine's workspace of a stride-1 convolution with bias (the engine's figure: derived where
    ATen runs it, calibrated where oneDNN does; each checked against real calls in test_slowconv.py and
    test_allocator.py)."""
    return default_cache("cpu").bytes_at(conv_signature(sample, weight, dtype, padding=padding), batch)


def html_of(found: Result) -> str:
    """The HTML report of a result, as `dstt-profile report` renders a saved one."""
    from dstt_profile.analysis.report import report_of
    from dstt_profile.render.html import render_html

    return render_html(report_of(found))


def write_report(found: Result, out: Path, stem: str) -> list[Path]:
    """The report's files of a result written as `out/<stem>.<suffix>`, as `report --out` writes them."""
    from dstt_profile.analysis.report import report_of
    from dstt_profile.fileio import write_all
    from dstt_profile.render.html import report_files

    return write_all({out / f"{stem}.{suffix}": text for suffix, text in report_files(report_of(found)).items()})
