"""Measured mode: beside the fake-tensor prediction, a real run under the same recorder, the allocator's
measured peak of one more pass, wall time per stage (medians after a warm-up), and the process's RSS."""

from __future__ import annotations

import resource
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import torch
from torch import nn

from dstt_profile.engine.contain import UserExit, user_code
from dstt_profile.engine.meters import PeakMeter, meter_for, synchronize
from dstt_profile.engine.subject import ForwardInputs, Subject
from dstt_profile.engine.threads import thread_count
from dstt_profile.engine.trace import WORKSPACE_RULE, build, check_device
from dstt_profile.errors import TraceError
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import MeasuredRecord, RunRecord

# The prediction of one run: its record, with per-op detail when the flag is set (the caller's
# summariser; the engine makes traces, not records).
Predict = Callable[[RunConfig, bool], RunRecord]
GLUE = "glue"  # time outside every stage's modules (the root's reshapes, residual adds)


def error_pct(predicted: int, measured: int) -> float:
    """(predicted - measured) / measured in %; 0 where both are 0."""
    if measured == 0:
        return 0.0 if predicted == 0 else float("inf")
    return 100.0 * (predicted - measured) / measured


def current_rss() -> int:
    """Resident set size of this process now, in bytes (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize()


def peak_rss() -> int:
    """The highest resident set size this process has had, in bytes: the kernel's high-water mark (in KiB) can
    trail the current figure by a few pages (per-thread RSS counters are folded in now and then)."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, current_rss())


def stage_roots(model: nn.Module, stage_of: Callable[[str], str | None]) -> dict[str, str]:
    """Module name -> stage, for the outermost module of each stage (its parent is in another stage)."""
    roots = {}
    for name, _ in model.named_modules():
        stage = stage_of(name) if name else None
        parent = name.rpartition(".")[0]
        if stage is not None and stage_of(parent) != stage:
            roots[name] = stage
    return roots


class StageTimer:
    """Wall time spent inside each stage's outermost modules, summed per stage, for one pass at a time."""

    def __init__(self, model: nn.Module, roots: dict[str, str], device: str) -> None:
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self._started: dict[str, float] = {}
        self._handles = []
        for name, module in model.named_modules():
            if name in roots:
                self._handles.append(module.register_forward_pre_hook(partial(self._enter, name)))
                self._handles.append(module.register_forward_hook(partial(self._leave, name, roots[name])))

    def _enter(self, name: str, _module: nn.Module, _args: Any) -> None:
        synchronize(self.device)
        self._started[name] = time.perf_counter()

    def _leave(self, name: str, stage: str, _module: nn.Module, _args: Any, _out: Any) -> None:
        synchronize(self.device)
        self.seconds[stage] += time.perf_counter() - self._started.pop(name)

    def take(self) -> dict[str, float]:
        out, self.seconds = dict(self.seconds), defaultdict(float)
        return out

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def _timed_passes(model: nn.Module, inputs: ForwardInputs, run: RunConfig, subject: Subject,
                  repeats: int, say: Callable[[str], None], first: int,
                  passes: int) -> tuple[float, dict[str, float]]:
    """Median forward time and per stage over `repeats` passes after one warm-up, numbered from `first`."""
    timer = StageTimer(model, stage_roots(model, subject.stage_of), run.device)
    totals: list[float] = []
    per_stage: dict[str, list[float]] = defaultdict(list)
    try:
        with torch.no_grad():
            say(f"real forward pass {first}/{passes} (timing warm-up)")
            inputs.call(model)
            timer.take()
            for i in range(repeats):
                say(f"real forward pass {first + 1 + i}/{passes} (timed {i + 1}/{repeats})")
                synchronize(run.device)
                started = time.perf_counter()
                inputs.call(model)
                synchronize(run.device)
                totals.append(time.perf_counter() - started)
                stages = timer.take()
                stages[GLUE] = totals[-1] - sum(stages.values())
                for stage, seconds in stages.items():
                    per_stage[stage].append(seconds)
    finally:
        timer.remove()
    return statistics.median(totals), {s: statistics.median(v) for s, v in per_stage.items()}


def measure(run: RunConfig, subject: Subject, predict: Predict, repeats: int = 3,
            meter: PeakMeter | None = None, progress: Callable[[str], None] | None = None) -> RunRecord:
    """The prediction for `run`, a real run beside it in `record.measured`; `progress` is told each step."""
    if run.mode != "inference":
        raise ValueError("measured mode runs the forward pass: use mode 'inference'")
    with thread_count(run.threads):
        check_device(run.replace(real=True))
        meter = meter or meter_for(run.device)
        say = progress or (lambda _step: None)
        passes = 3 + 1 + repeats  # recorded, warm-up, metered; the timing warm-up and the timed passes
        say("prediction (fake tensors)")
        record = predict(run.replace(real=False), True)
        rss_before = current_rss()
        say(f"real forward pass 1/{passes} (op recorder)")
        real = predict(run.replace(real=True), False)
        model, inputs = build(run.replace(real=True), subject)
        model.eval()
        try:
            with user_code(subject.program):
                with torch.no_grad():
                    say(f"real forward pass 2/{passes} (warm-up)")
                    inputs.call(model)  # warm-up: library caches and thread pools, as in every later pass
                    say(f"real forward pass 3/{passes} (allocator peak)")
                    measured, out = meter.peak(partial(inputs.call, model))
                    del out
                timed = _timed_passes(model, inputs, run, subject, repeats, say, 4, passes)
        except UserExit as exc:
            raise TraceError(f"the model's real forward pass {exc}") from None
        del model, inputs
        peak = record.peak
        return replace(record, measured=MeasuredRecord(
            device=run.device, method=meter.method, measured_peak_bytes=measured,
            predicted_tensor_peak_bytes=record.tensor_peak.bytes, predicted_allocator_peak_bytes=peak.bytes,
            allocator_peak_op=peak.op, allocator_peak_module=peak.module, allocator_peak_stage=peak.stage,
            workspace_at_peak_bytes=peak.transient_bytes, peak_error_pct=error_pct(peak.bytes, measured),
            tensor_peak_error_pct=error_pct(record.tensor_peak.bytes, measured),
            real_tensor_peak_bytes=real.tensor_peak.bytes,
            headline_elements={name: s.elements for name, s in real.stages.items()},
            headline_error_pct={name: error_pct(s.elements, real.stages[name].elements)
                                for name, s in record.stages.items() if name in real.stages},
            workspaces=conv_workspaces(record), forward_seconds=timed[0], stage_seconds=timed[1],
            repeats=repeats, rss_before_bytes=rss_before, rss_peak_bytes=peak_rss()))


def conv_workspaces(record: RunRecord) -> dict[str, int]:
    """Convolution module -> the workspace its op holds inside itself in this run (first call)."""
    found: dict[str, int] = {}
    for op in record.ops:
        if WORKSPACE_RULE in op.rules.split(",") and op.module not in found:
            found[op.module] = op.transient_bytes
    return found
