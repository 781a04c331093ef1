"""Records from runs: traced, derived across t (sweep.py), measured, counted by fvcore, and the scaling
series a single run's report draws."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import torch

from dstt_profile.analysis.capacity import require_memory
from dstt_profile.analysis.report import default_upto, scaling_series
from dstt_profile.engine.polytrace import BASE_FRAMES, DIRECT_BELOW
from dstt_profile.engine.trace import build
from dstt_profile.pipeline.sweep import Sweep, traced_record
from dstt_profile.profiles.registry import normalised, subject_for
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import FvcoreRecord, Result, RunRecord

Progress = Callable[[int, int, RunConfig], None]


def profile_run(run: RunConfig, keep_ops: bool = True, fvcore: bool = False) -> RunRecord:
    return with_fvcore(traced_record(normalised(run), keep_ops), fvcore)


def with_fvcore(record: RunRecord, fvcore: bool) -> RunRecord:
    return replace(record, fvcore=run_fvcore(record.config)) if fvcore else record


def profile_many(runs: Iterable[RunConfig], keep_ops: bool = True, fvcore: bool = False, progress: Progress | None = None,
                 derive: bool = True, detail: str = "traced") -> Result:
    """Every run, in order; runs that differ only in t derived where cheaper (unless `derive=False`). Per-op
    detail (`keep_ops`) is kept for traced runs (`detail="traced"`) or only for the last run (`"last"`)."""
    runs = [normalised(run) for run in runs]
    wanted: dict[RunConfig, list[int]] = {}
    for run in runs:
        wanted.setdefault(run.replace(frames=1), []).append(run.frames)
    planned: dict[RunConfig, RunRecord] = {}
    records = []
    for i, run in enumerate(runs):
        if progress is not None:
            progress(i, len(runs), run)
        ops = keep_ops and (detail == "traced" or i == len(runs) - 1)
        family = run.replace(frames=1)
        if family in wanted:
            frames = wanted.pop(family)
            last = runs[-1].frames if runs[-1].replace(frames=1) == family else None
            def kept(t: int, last: int | None = last) -> bool:
                return keep_ops and (detail == "traced" or t == last)

            found = Sweep(family, derive=derive).records(frames, kept)
            planned.update({family.replace(frames=t): r for t, r in found.items()})
        record = planned.pop(run, None) or profile_run(run, keep_ops=ops)
        records.append(with_fvcore(replace(record, ops=()) if not ops and record.ops else record, fvcore))
    if progress is not None and runs:
        progress(len(runs), len(runs), runs[-1])
    return Result(tuple(records))


def measured_run(run: RunConfig, repeats: int = 3, progress: Callable[[str], None] | None = None) -> RunRecord:
    from dstt_profile.engine.measure import measure

    run = normalised(run)
    return measure(run, subject_for(run), lambda r, keep: profile_run(r, keep_ops=keep), repeats, progress=progress)


def require_real_memory(runs: Sequence[RunConfig], what: str) -> None:
    """Refuse up front a real-tensor run that cannot fit in this machine's memory (the largest, predicted first)."""
    host = [r for r in runs if r.device == "cpu"]
    if not host:
        return
    run = max(host, key=lambda r: (r.frames, r.batch))
    record = profile_run(run.replace(real=False), keep_ops=False)
    scale = run.torch_dtype.itemsize / run.element_bytes  # int8 is counted at 1 B but computed in float32
    need = round((record.peak.bytes + record.param_bytes + record.input_bytes) * scale)
    require_memory(need, f"{what} at t={run.frames}")


SCALING_POINTS = 64  # most clip lengths the main job's scaling plots derive


def plot_frames(upto: int, points: int = SCALING_POINTS) -> list[int]:
    """Clip lengths from 2 to `upto`: every one up to `points` of them, else an even step (2048 -> 2, 35, ..., 2048)."""
    if upto - DIRECT_BELOW + 1 <= points:
        return list(range(DIRECT_BELOW, upto + 1))
    step = -(-(upto - DIRECT_BELOW) // (points - 1))
    return sorted({*range(DIRECT_BELOW, upto, step), upto})


def scaling_runs(run: RunRecord, upto: int) -> tuple[tuple[RunRecord, ...], str]:
    """`run`'s configuration from t=2 to `upto`, derived and checked against `run` itself where traced at
    t >= 2, else against a trace at `upto` (each t traced where the check fails); with how, in a sentence."""
    base = run.config.replace(real=False)
    frames = [t for t in plot_frames(max(upto, DIRECT_BELOW)) if t != run.frames]
    sweep = Sweep(base)
    on_run = not run.config.real and run.frames >= DIRECT_BELOW
    against = f"this run (t={run.frames})" if on_run else f"a trace at t={frames[-1]}"
    checked = sweep.family() is not None and (sweep.check(run.frames, run) if on_run else sweep.check(frames[-1]))
    if not checked:
        return _bounded(run, base, sweep, against)
    runs = tuple(sorted((run, *(sweep.record(t) for t in frames)), key=lambda r: r.frames))
    return runs, (f"t = {runs[0].frames}..{runs[-1].frames} ({len(runs)} points, each exact): derived from fake "
                  f"traces at t={','.join(map(str, BASE_FRAMES))} and checked op by op against {against}")


# Where a sweep cannot be derived, the clip lengths traced besides the bases and the run itself (a run below them).
BOUNDED_EXTRA = (6, 8)


def _bounded(run: RunRecord, base: RunConfig, sweep: Sweep, against: str) -> tuple[tuple[RunRecord, ...], str]:
    """The series where the derivation fails (ops that change in number with t: a loop over frames): the traces
    the attempt made (t = 2, 3, 4), the run, and t = 6, 8 where the run is below them; each traced, no more."""
    family = sweep.family_traces()
    made = {t: traced_record(base.replace(frames=t), False, found) for t, found in family.items()}
    wanted = {*BASE_FRAMES, *(t for t in BOUNDED_EXTRA if t > run.frames)} - {run.frames}
    traced = [made.get(t) or traced_record(base.replace(frames=t), keep_ops=False) for t in sorted(wanted)]
    runs = tuple(sorted((run, *traced), key=lambda r: r.frames))
    shown = ",".join(str(r.frames) for r in runs)
    why = "its ops change in number with t" if not sweep.consistent() else f"the derivation did not match {against}"
    return runs, f"t = {shown}, each traced, no more ({why}, so no t is derived from the others)"


def with_scaling(result: Result) -> Result:
    """`result` with a single run's scaling series (a default sweep around its t), stored so that a saved
    result re-renders the same report; a sweep draws its own."""
    if len(result.runs) != 1 or result.scaling is not None:
        return result
    run = result.runs[0]
    runs, how = scaling_runs(run, default_upto(run.frames))
    return replace(result, scaling=scaling_series(runs, f"from a default sweep around t={run.frames}: {how}"))


def run_fvcore(run: RunConfig) -> FvcoreRecord:
    """fvcore's FlopCountAnalysis and ActivationCountAnalysis of the same model and input, on real tensors."""
    from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    real = run.replace(real=True)
    started = time.perf_counter()
    model, inputs = build(real, subject_for(real))
    model.eval()
    with torch.no_grad():
        flops = FlopCountAnalysis(model, inputs.positional(model))
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        acts = ActivationCountAnalysis(model, inputs.positional(model))
        acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return FvcoreRecord(
            macs_total=int(flops.total()),
            macs_by_op={str(k): int(v) for k, v in flops.by_operator().items()},
            macs_by_module={str(k): int(v) for k, v in flops.by_module().items() if k.count(".") < 2},
            activations_total=int(acts.total()),
            unsupported={str(k): int(v) for k, v in flops.unsupported_ops().items()},
            seconds=time.perf_counter() - started,
        )

