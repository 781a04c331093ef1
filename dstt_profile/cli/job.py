"""The main job for parsed options: plan (every check before any work), run, write the files."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dstt_profile.cli import options
from dstt_profile.cli.plugins import load
from dstt_profile.cli.progress import sweep_progress
from dstt_profile.errors import UsageError
from dstt_profile.fileio import check_outputs, ensure_dir, output_path, write_all
from dstt_profile.profiles.registry import check_checkpoint, resolve, slug_variants
from dstt_profile.records.report import Report
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result

# Extra outputs, "module:function" (function(report) -> {suffix: text}) -> the suffixes it renders.
REPORT_WRITERS: dict[str, tuple[str, ...]] = {"dstt_profile.render.html:report_files": ("html", "graphml", "dot")}


MAX_STEM = 150  # characters of a file-name stem; a longer one is cut and ends in a digest of the whole


def stem_for(runs: Sequence[RunConfig], profile_name: str) -> str:
    """The file-name stem of a result holding `runs`, from the configurations alone: dstt_t14_240x432_float32;
    dstt_t1-32_... for consecutive clip lengths, dstt_t2+5_... for others."""
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
    """The stem of a result's files, from what its runs record (a saved result is data: nothing is loaded)."""
    return stem_for([r.config for r in result.runs], result.runs[0].profile.name)


def planned_outputs(out: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    """Every file the main job will write, by what it is: checked before the work starts."""
    suffixes = [*formats, *(suffix for group in REPORT_WRITERS.values() for suffix in group)]
    return {f"the {suffix.upper()} output": out / f"{stem}.{suffix}" for suffix in suffixes}


def write_outputs(report: Report, out: Path, formats: Sequence[str]) -> list[Path]:
    """Every file of the report, rendered first and then written together (fileio.write_all): never a mix."""
    from dstt_profile.render.tabular import render_csv, render_json

    ensure_dir(out)
    stem = result_stem(report.result)
    texts = {suffix: render(report) for suffix, render in (("json", render_json), ("csv", render_csv))
             if suffix in formats}
    for target in REPORT_WRITERS:
        renderer: Callable[..., Any] | None = load(target)
        if renderer is not None:
            texts.update(renderer(report))
    return write_all({out / f"{stem}.{suffix}": text for suffix, text in texts.items()})


def plan_job(args: argparse.Namespace) -> tuple[list[RunConfig], tuple[str, ...], int, Path, str | None]:
    """Everything the main job checks before any work (the checkpoint: what its check said, or None)."""
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
    checked = check_checkpoint(args.checkpoint, runs[0]) if args.checkpoint is not None else None
    return runs, formats, repeats, out, checked


def run_job(args: argparse.Namespace, show: bool = True) -> tuple[int, Report, list[Path]]:
    """The main job for parsed options: exit code, report and files written (printed unless not `show`)."""
    from dstt_profile.api import profile_runs
    from dstt_profile.cli.runtime import plan_runtime
    from dstt_profile.render.terminal import render

    runs, formats, repeats, out, checked = plan_job(args)
    runtime = plan_runtime(args, runs, out, stem_for(runs, resolve(runs[0]).name))  # None: PyTorch alone
    quiet = args.quiet
    progress = sweep_progress(sys.stderr, sys.stderr.isatty()) if len(runs) > 1 and not quiet else None
    report = profile_runs(runs, measure=args.measure, repeats=repeats, fvcore=args.fvcore,
                          keep_ops="traced" if args.keep_ops else "last",
                          meta={"checkpoint": checked} if checked is not None else None, progress=progress,
                          step=None if quiet else lambda run: lambda step: print(
                              f"measuring t={run.frames}: {step} ...", file=sys.stderr, flush=True))
    if runtime is not None:
        report = runtime.run(report)
    written = write_outputs(report, out, formats) + (runtime.write(report) if runtime is not None else [])
    if show and not quiet:
        print(render(report))
        if runtime is not None:
            print(f"\n{runtime.text(report)}")
        if checked is not None:
            print(checked)
        print()
        for path in written:
            print(f"wrote {path}")
    failed = any(not c.passed for r in report.runs for c in r.checks)
    return 1 if failed else 0, report, written
