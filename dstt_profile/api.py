"""The Python API, for notebooks and scripts: `profile(...)` and `sweep(...)`.

    >>> import dstt_profile
    >>> p = dstt_profile.profile(frames=14, res="240x432")
    >>> p.stages            # pandas DataFrame, one row per stage
    >>> df = dstt_profile.sweep(frames=range(1, 65))   # one row per t x stage
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dstt_profile.analysis.polysummary import SummaryFamily, comparable
from dstt_profile.analysis.series import default_upto, scaling_series
from dstt_profile.analysis.summarize import summarize
from dstt_profile.engine.polytrace import BASE_FRAMES, DIRECT_BELOW, TRACED, TraceFamily, worth_deriving
from dstt_profile.engine.trace import Trace, trace
from dstt_profile.errors import UsageError
from dstt_profile.profiles.registry import normalised, register_factory, subject_for
from dstt_profile.records.runconfig import (
    DEFAULT_MODEL,
    MAX_FRAMES,
    MAX_SWEEP,
    RunConfig,
    check_frames,
    model_args_of,
    parse_frames,
)
from dstt_profile.records.schema import Result, RunRecord
from dstt_profile.runs import build_run
from dstt_profile.units import fmt_bytes, fmt_count
from dstt_profile.values import shown, whole_number

if TYPE_CHECKING:
    import pandas as pd


_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig))


def run_config(frames: int = 14, res: str | tuple[int, int] = "240x432", **options: Any) -> RunConfig:
    """A validated RunConfig from API-style arguments (`res` as "HxW" or (H, W)).

    `model` is "dstt" (the default), "file.py:Name", "package.module:name", or a factory object (a
    class or function returning an nn.Module). Options that are not RunConfig fields are model
    arguments (`heads=8`, `attention="sdpa"` for DSTT; a factory's keywords for a user model), merged
    into `model_args`. The run is checked against its model's profile before it is returned."""
    if "height" in options or "width" in options:
        raise UsageError("give the frame size as res='HxW' or res=(height, width)")
    model = options.pop("model", DEFAULT_MODEL)
    if not isinstance(model, str):
        model = register_factory(model)
    args = {k: options.pop(k) for k in list(options) if k not in _FIELDS}
    if args:
        given = options.pop("model_args", {})
        options["model_args"] = {**(dict(given) if isinstance(given, dict) else dict(model_args_of(given))), **args}
    return build_run(frames, res, model=model, **options)


def trace_run(run: RunConfig, **options: Any) -> Trace:
    """The engine's trace of `run`, its model resolved through the profiles."""
    return trace(run, subject_for(run), **options)


def profile_run(run: RunConfig, keep_ops: bool = True, fvcore: bool = False) -> RunRecord:
    """Trace and summarise one run; with `fvcore=True` also run fvcore's counters on real tensors."""
    run = normalised(run)
    return finish_record(summarize(trace_run(run), keep_ops=keep_ops), run, fvcore, TRACED)


def measured_run(
    run: RunConfig, repeats: int = 3, progress: Callable[[str], None] | None = None, meter: Any = None
) -> RunRecord:
    """The prediction for `run` with a real run beside it (engine/measure.py)."""
    from dstt_profile.engine.measure import measure

    run = normalised(run)
    return measure(
        run,
        subject_for(run),
        lambda r, keep: profile_run(r, keep_ops=keep),
        repeats=repeats,
        meter=meter,
        progress=progress,
    )


def finish_record(record: RunRecord, run: RunConfig, fvcore: bool, source: str) -> RunRecord:
    """The record with how it was obtained, and fvcore's count beside it when asked for."""
    record = replace(record, extra={**record.extra, "source": source})
    if fvcore:
        from dstt_profile.analysis.fvcore_check import run_fvcore

        record = replace(record, fvcore=run_fvcore(run))
    return record


def _frames_of(frames: int | str | Iterable[int]) -> tuple[int, ...]:
    """Clip lengths from an int, text ('1:32') or an iterable of ints, by the command line's rules."""
    if isinstance(frames, str):
        return parse_frames(frames, "frames")
    if isinstance(frames, int) and not isinstance(frames, bool):
        return (whole_number(frames, "frames", 1, MAX_FRAMES),)
    if isinstance(frames, Sized) and len(frames) > MAX_SWEEP:
        raise UsageError(f"frames {shown(frames)}: {len(frames)} frame counts is more than {MAX_SWEEP} in one run")
    try:
        items = list(itertools.islice(iter(frames), MAX_SWEEP + 1))  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(f"frames must be an int, text such as '1:32', or ints, got {shown(frames)}") from None
    values = tuple(whole_number(f, "frames: each frame count", 1, MAX_FRAMES) for f in items)
    return check_frames(values, frames, "frames")


def profile_many(
    runs: Iterable[RunConfig],
    keep_ops: bool = True,
    fvcore: bool = False,
    progress: Callable[[int, int, RunConfig], None] | None = None,
    derive: bool = True,
    detail: str = "traced",
) -> Result:
    """Profile every run, in order. Fake-tensor runs that differ only in t are derived from a few
    traces where that is cheaper (polysummary.py; each record's `extra["source"]` says how), unless
    `derive=False`; real runs are always run.

    Per-op detail (`keep_ops`) is kept for traced runs (`detail="traced"`) or only for the last run
    (`detail="last"`, what a sweep's report needs); derived runs carry none (profile that t alone for it)."""
    runs = [normalised(run) for run in runs]
    groups: dict[RunConfig, list[int]] = {}
    for run in runs:
        if derive and not run.real:
            groups.setdefault(run.replace(frames=1), []).append(run.frames)
    planned: dict[RunConfig, RunRecord] = {}
    records = []
    for i, run in enumerate(runs):
        if progress is not None:
            progress(i, len(runs), run)
        ops = keep_ops and (detail == "traced" or i == len(runs) - 1)
        family = run.replace(frames=1)
        if derive and not run.real and family in groups and worth_deriving(groups[family]):
            wanted = groups.pop(family)
            last = runs[-1].frames if runs[-1].replace(frames=1) == family else None
            planned.update(_family_records(family, wanted, keep_ops, detail, last))
        if run in planned:
            record = planned.pop(run)
            if not ops and record.ops:
                record = replace(record, ops=())
            records.append(finish_record(record, run, fvcore, record.extra.get("source", TRACED)))
        else:
            records.append(profile_run(run, keep_ops=ops, fvcore=fvcore))
    if progress is not None and runs:
        progress(len(runs), len(runs), runs[-1])
    return Result(tuple(records))


def _family_records(
    base: RunConfig, frames: Iterable[int], keep_ops: bool, detail: str, last: int | None
) -> dict[RunConfig, RunRecord]:
    """Records of `base` at every t in `frames`: t = 1, the three bases and the largest t traced, the
    rest derived (polysummary.py) and checked exactly against the largest t's trace, in full and in
    summary. Where either check fails, every t is traced."""
    wanted = sorted(set(frames))
    check_t = wanted[-1]

    def kept(t: int) -> bool:
        return keep_ops and (detail == "traced" or t == last)

    def traced(t: int, tr: Trace | None = None) -> RunRecord:
        found = tr if tr is not None else trace_run(base.replace(frames=t))
        return replace(summarize(found, keep_ops=kept(t)), extra={"source": TRACED})

    family = TraceFamily(base, subject_for(base))
    check = trace_run(base.replace(frames=check_t))
    summary = SummaryFamily(family) if family.agrees(check) else None
    check_record = traced(check_t, check)
    if summary is None or summary.record(check_t) != comparable(check_record):
        return {base.replace(frames=t): check_record if t == check_t else traced(t) for t in wanted}
    how = (
        f"derived from the traces at t={','.join(map(str, BASE_FRAMES))}; checked exactly against the trace "
        f"at t={check_t}"
    )
    out: dict[RunConfig, RunRecord] = {}
    for t in wanted:
        if t == check_t:
            out[base.replace(frames=t)] = check_record
        elif t in family.traces:
            out[base.replace(frames=t)] = traced(t, family.traces[t])
        else:
            derived = summary.record(t)
            out[base.replace(frames=t)] = (
                replace(derived, extra={"source": how}) if derived is not None else traced(t)
            )
    return out


def _comparable(record: RunRecord) -> RunRecord:
    return replace(record, seconds=0.0, extra={}, fvcore=None, measured=None)


SCALING_POINTS = 64  # most clip lengths the main job's scaling plots derive


def plot_frames(upto: int, points: int = SCALING_POINTS) -> list[int]:
    """Clip lengths from 2 to `upto`: every one while there are at most `points`, else an even step.

    28 -> 2, 3, ..., 28 (27 points); 2048 -> 2, 35, 68, ..., 2015, 2048 (63 points, step 33)."""
    if upto - DIRECT_BELOW + 1 <= points:
        return list(range(DIRECT_BELOW, upto + 1))
    step = -(-(upto - DIRECT_BELOW) // (points - 1))
    return sorted({*range(DIRECT_BELOW, upto, step), upto})


def scaling_runs(run: RunRecord, upto: int) -> tuple[tuple[RunRecord, ...], str]:
    """`run`'s configuration from t=2 to `upto` (`plot_frames`), derived from three fake traces, for the plots.

    The derivation is checked against `run` itself where it was traced at t >= 2 (every op, module
    and figure equal), else against a fresh trace at `upto`; where the check fails, each t is traced.
    Returns the runs (with `run` in its place) and a sentence saying how they were obtained.
    """
    base = RunConfig.from_dict(run.config).replace(real=False)
    frames = [t for t in plot_frames(max(upto, DIRECT_BELOW)) if t != run.frames]
    family = TraceFamily(base, subject_for(base))
    derived_main = family.derive(run.frames) if family.consistent and not run.config.get("real") else None
    if derived_main is not None:
        checked = _comparable(summarize(derived_main, keep_ops=bool(run.ops))) == _comparable(run)
        against = f"this run (t={run.frames})"
    else:
        checked = family.consistent and family.agrees(trace_run(base.replace(frames=frames[-1])))
        against = f"a trace at t={frames[-1]}"
    if not checked:
        traced = profile_many([base.replace(frames=t) for t in frames], keep_ops=False, derive=False)
        runs = tuple(sorted((run, *traced.runs), key=lambda r: r.frames))
        return runs, f"t = {runs[0].frames}..{runs[-1].frames}, each traced (the derivation did not match {against})"
    summaries = SummaryFamily(family)
    if derived_main is not None and summaries.record(run.frames) != comparable(run):
        traced = profile_many([base.replace(frames=t) for t in frames], keep_ops=False, derive=False)
        runs = tuple(sorted((run, *traced.runs), key=lambda r: r.frames))
        return runs, f"t = {runs[0].frames}..{runs[-1].frames}, each traced (the derived summary did not match {against})"
    records = []
    for t in frames:
        found = summarize(family.traces[t], keep_ops=False) if t in family.traces else summaries.record(t)
        records.append(found if found is not None else profile_run(base.replace(frames=t), keep_ops=False))
    runs = tuple(sorted((run, *records), key=lambda r: r.frames))
    note = (
        f"t = {runs[0].frames}..{runs[-1].frames} ({len(runs)} points, each exact): derived from fake traces at "
        f"t={','.join(map(str, BASE_FRAMES))} and checked op by op against {against}"
    )
    return runs, note


def with_scaling(result: Result) -> Result:
    """`result` with the scaling series its report draws (records/schema.py `ScalingRecord`).

    A single run gets those of a default sweep around its t (`scaling_runs` up to `default_upto(t)`),
    stored in the result so that a saved result re-renders the same report; a sweep's report draws
    its own runs, so a sweep (or a result that has them) is returned as it is."""
    if len(result.runs) != 1 or result.scaling is not None:
        return result
    run = result.runs[0]
    runs, how = scaling_runs(run, default_upto(run.frames))
    return replace(result, scaling=scaling_series(runs, f"from a default sweep around t={run.frames}: {how}"))


@dataclass(frozen=True)
class Profile:
    """A result with pandas views. Holds records only; renders without the model."""

    result: Result

    @property
    def run(self) -> RunRecord:
        return self.result.runs[0]

    @property
    def stages(self) -> pd.DataFrame:
        return stages_frame(self.result)

    @property
    def modules(self) -> pd.DataFrame:
        rows = [
            {
                "t": r.frames,
                "module": m.name or "<root>",
                "type": m.type,
                "stage": m.stage,
                "depth": m.depth,
                "params": m.params,
                "output_shape": tuple(m.outputs[0].shape) if m.outputs else (),
                "flops": m.flops,
                "other_flops": m.other_flops,
                "alloc_bytes": m.alloc_bytes,
            }
            for r in self.result.runs
            for m in r.modules
        ]
        return _frame(rows)

    @property
    def ops(self) -> pd.DataFrame:
        rows = [
            {
                "t": r.frames,
                "index": o.index,
                "op": o.op,
                "module": o.module,
                "stage": o.stage,
                "shape": tuple(o.outputs[0].shape) if o.outputs else (),
                "alloc_bytes": o.alloc_bytes,
                "freed_bytes": o.freed_bytes,
                "live_bytes": o.live_bytes,
                "flops": o.flops,
                "other_flops": o.other_flops,
            }
            for r in self.result.runs
            for o in r.ops
        ]
        return _frame(rows)

    @property
    def timeline(self) -> pd.DataFrame:
        """Live bytes after each op: the memory timeline of the pass."""
        ops = self.ops
        return ops[["t", "index", "op", "stage", "live_bytes"]] if len(ops) else ops

    @property
    def checks(self) -> pd.DataFrame:
        rows = [
            {
                "t": r.frames,
                "check": c.name,
                "formula": c.formula,
                "substituted": c.formula_substituted,
                "expected": c.expected,
                "measured": c.measured,
                "unit": c.unit,
                "pass": c.passed,
            }
            for r in self.result.runs
            for c in r.checks
        ]
        return _frame(rows)

    def to_json(self, indent: int | None = 1) -> str:
        return self.result.to_json(indent=indent)

    def _repr_html_(self) -> str:
        run = self.run
        cfg = run.config
        head = (
            f"<p><b>{run.title}</b> t={cfg['frames']} {cfg['height']}x{cfg['width']} {cfg['dtype']} "
            f"({', '.join(w for w in (run.profile.variant, cfg['mode']) if w)}): {run.params:,} parameters, "
            f"{fmt_count(run.flops.total, 'FLOP')} (2 per multiply-add), "
            f"{run.peak_view.label} {fmt_bytes(run.peak_view.bytes)} in {run.peak_view.stage} ({run.peak_view.op}); "
            f"tensors only {fmt_bytes(run.peak.tensor_bytes)}</p>"
        )
        table = self.stages.drop(columns=["t"]).to_html(index=False)
        return head + table


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame of `rows`; pandas is imported on first use (the command line never needs it)."""
    import pandas as pd

    return pd.DataFrame(rows)


def stages_frame(result: Result) -> pd.DataFrame:
    """Tidy: one row per run x stage."""
    rows = []
    for r in result.runs:
        for s in r.stages.values():
            rows.append(
                {
                    "t": r.frames,
                    "res": f"{r.config['height']}x{r.config['width']}",
                    "dtype": r.config["dtype"],
                    "attention": r.arg("attention"),
                    "stage": s.name,
                    "shape": tuple(s.shape),
                    "elements": s.elements,
                    "bytes": s.bytes,
                    "flops": s.flops,
                    "other_flops": s.other_flops,
                    "instances": s.instances,
                    "share": s.share,
                    "formula": s.formula_substituted,
                    "formula_elements": s.formula_elements,
                    "match": s.match,
                    "peak_bytes": r.peak_view.bytes,
                    "peak_view": r.memory,
                    "tensor_peak_bytes": r.peak.tensor_bytes,
                }
            )
    return _frame(rows)


def profile(frames: int = 14, res: str | tuple[int, int] = "240x432", fvcore: bool = False, **options: Any) -> Profile:
    """Profile one configuration (fake tensors unless `real=True`). Options: the fields of RunConfig,
    `model` (a name, "file.py:Name", or a factory object) and the model's arguments (run_config)."""
    return Profile(Result((profile_run(run_config(frames, res, **options), fvcore=fvcore),)))


def sweep(
    frames: int | str | Iterable[int] = range(1, 65),
    res: str | tuple[int, int] = "240x432",
    **options: Any,
) -> pd.DataFrame:
    """Profile every t in `frames`; returns a tidy DataFrame, one row per t x stage."""
    runs = [run_config(t, res, **options) for t in _frames_of(frames)]
    return stages_frame(profile_many(runs, keep_ops=False))
