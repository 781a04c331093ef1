"""The main job for parsed options: plan (every check before any work), run, write the files."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from dstt_profile.cli import options
from dstt_profile.cli.plugins import load
from dstt_profile.cli.progress import sweep_progress
from dstt_profile.errors import UsageError
from dstt_profile.fileio import check_outputs, ensure_dir, output_path
from dstt_profile.profiles.registry import resolve, slug_variants
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result

# Extra outputs of the main job, "module:function" with function(result) -> {suffix: text}, and the
# suffixes it renders (checked before the work). The HTML report plugs in here.
REPORT_WRITERS: dict[str, tuple[str, ...]] = {"dstt_profile.render.html:report_files": ("html", "graphml", "dot")}


MAX_STEM = 150  # characters of a file-name stem; a longer one is cut and ends in a digest of the whole


def stem_for(runs: Sequence[RunConfig], profile_name: str) -> str:
    """The file-name stem of a result holding `runs` under the profile named `profile_name`:
    dstt_t14_240x432_float32; dstt_t1-32_... for consecutive clip lengths, dstt_t2+5_... for others.
    Made from the configurations alone: nothing is loaded or run."""
    first = runs[0]
    slug = first.slug(slug_variants(profile_name, first))
    frames = sorted({r.frames for r in runs})
    if len(frames) > 1:
        consecutive = frames == list(range(frames[0], frames[-1] + 1))
        span = f"{frames[0]}-{frames[-1]}" if consecutive else "+".join(map(str, frames))
        slug = slug.replace(f"_t{first.frames}_", f"_t{span}_", 1)
    if len(slug) > MAX_STEM:
        slug = f"{slug[: MAX_STEM - 13]}_{hashlib.sha256(slug.encode()).hexdigest()[:12]}"
    return slug


def result_stem(result: Result) -> str:
    """The stem of a saved or new result's files, from what its runs record (never loading a model
    the file names: a saved result is data)."""
    return stem_for([RunConfig.from_dict(r.config) for r in result.runs], result.runs[0].profile.name)


def planned_outputs(out: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    """Every file the main job will write, by what it is: checked before the work starts."""
    suffixes = [*formats, *(suffix for target in REPORT_WRITERS for suffix in REPORT_WRITERS[target])]
    return {f"the {suffix.upper()} output": out / f"{stem}.{suffix}" for suffix in suffixes}


def write_outputs(result: Result, out: Path, formats: Sequence[str]) -> list[Path]:
    """Every file of the result (`formats` and the report's), rendered first and then written together:
    a failure or a stop while writing leaves the old set as it was, never a mix (fileio.write_all)."""
    from dstt_profile.fileio import write_all
    from dstt_profile.render.tabular import render_csv, render_json

    ensure_dir(out)
    stem = result_stem(result)
    texts: dict[str, str] = {}
    if "json" in formats:
        texts["json"] = render_json(result)
    if "csv" in formats:
        texts["csv"] = render_csv(result)
    for target in REPORT_WRITERS:
        renderer: Callable[..., Any] | None = load(target)
        if renderer is not None:
            texts.update(renderer(result))
    return write_all({out / f"{stem}.{suffix}": text for suffix, text in texts.items()})


def _measured(runs: Sequence[RunConfig], repeats: int, fvcore: bool, quiet: bool) -> Result:
    """Each run predicted and measured (measure.py); real memory and time, so t stays small. Unless
    `quiet`, each step is announced on stderr as it starts: "measuring t=14: real forward pass 2/6 ..."."""
    from dstt_profile.api import finish_record, measured_run
    from dstt_profile.engine.polytrace import TRACED

    records = []
    for run in runs:
        step = None if quiet else _step_line(sys.stderr, run)
        records.append(finish_record(measured_run(run, repeats=repeats, progress=step), run, fvcore, TRACED))
    return Result(tuple(records))


def _step_line(stream: TextIO, run: RunConfig) -> Callable[[str], None]:
    def show(step: str) -> None:
        stream.write(f"measuring t={run.frames}: {step} ...\n")
        stream.flush()

    return show


def check_real_memory(runs: Sequence[RunConfig], what: str) -> None:
    """Refuse up front a real-tensor run that cannot fit in this machine's memory (capacity.py): the
    largest run is predicted with fake tensors first, at the dtype it will really compute in."""
    from dstt_profile.analysis.capacity import require_memory
    from dstt_profile.api import profile_run

    host = [r for r in runs if r.device == "cpu"]
    if not host:
        return
    run = max(host, key=lambda r: (r.frames, r.batch))
    record = profile_run(run.replace(real=False), keep_ops=False)
    scale = run.torch_dtype.itemsize / run.element_bytes  # int8 is counted at 1 B but computed in float32
    need = round((record.peak.bytes + record.param_bytes + record.input_bytes) * scale)
    require_memory(need, f"{what} at t={run.frames}")


def plan_job(args: argparse.Namespace) -> tuple[list[RunConfig], tuple[str, ...], int, Path, str | None]:
    """Everything the main job checks before any work: runs, formats, repeats, the output files, the
    checkpoint (what its check said, or None without one)."""
    runs = options.runs_from_options(args)
    formats = options.formats(args.format)
    repeats = options.repeats(args)
    if args.measure and any(r.mode != "inference" for r in runs):
        raise UsageError("--measure runs the forward pass: use --mode inference")
    out = output_path(args.out, "--out")
    assert out is not None
    ensure_dir(out)  # fail before the work, not after
    inputs = {what: Path(name) for run in runs for what, name in run.input_files().items()}
    if args.checkpoint is not None:
        inputs["the checkpoint"] = Path(args.checkpoint)
    check_outputs(planned_outputs(out, stem_for(runs, resolve(runs[0]).name), formats), inputs)
    checked = None
    if args.checkpoint is not None:
        from dstt_profile.profiles.dstt.checkpoint import check_checkpoint

        checked = check_checkpoint(args.checkpoint, runs[0])
    return runs, formats, repeats, out, checked


def run_job(args: argparse.Namespace, show: bool = True) -> tuple[int, Result, list[Path]]:
    """The main job for parsed options: exit code, result and files written (printed unless not `show`)."""
    runs, formats, repeats, out, checked = plan_job(args)
    if args.measure or args.fvcore:
        check_real_memory(runs, "--measure" if args.measure else "--fvcore")
    from dstt_profile.api import profile_many
    from dstt_profile.render.terminal import render

    progress = sweep_progress(sys.stderr, sys.stderr.isatty()) if len(runs) > 1 and not args.quiet else None
    if args.measure:
        result = _measured(runs, repeats, args.fvcore, args.quiet)
    else:
        result = profile_many(
            runs, keep_ops=True, fvcore=args.fvcore, progress=progress, detail="traced" if args.keep_ops else "last"
        )
    from dstt_profile.api import with_scaling

    # a single run's scaling series for its report, saved with the result; derived before the train
    # split, so that the derivation is checked against the traced record itself
    result = _finished(with_scaling(result), checked)
    written = write_outputs(result, out, formats)
    if show and not args.quiet:
        print(render(result))
        if checked is not None:
            print(checked)
        print()
        for path in written:
            print(f"wrote {path}")
    failed = any(not c.passed for r in result.runs for c in r.checks)
    return 1 if failed else 0, result, written


def _finished(result: Result, checkpoint: str | None) -> Result:
    """A single train run with the gradients and saved activations inside its peak (a second trace of
    the step, so not for every t of a sweep); the checkpoint checked."""
    from dataclasses import replace

    from dstt_profile.analysis.footprint import with_train_split

    meta = {**result.meta, "checkpoint": checkpoint} if checkpoint is not None else result.meta
    runs = (with_train_split(result.runs[0]),) if len(result.runs) == 1 else result.runs
    return replace(result, runs=runs, meta=meta)
