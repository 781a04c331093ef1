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
from dstt_profile.fileio import check_outputs, ensure_dir, output_path, write_all
from dstt_profile.profiles.registry import check_checkpoint, resolve, slug_variants
from dstt_profile.records.report import Report
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
    return stem_for([r.config for r in result.runs], result.runs[0].profile.name)


def planned_outputs(out: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    """Every file the main job will write, by what it is: checked before the work starts."""
    suffixes = [*formats, *(suffix for target in REPORT_WRITERS for suffix in REPORT_WRITERS[target])]
    return {f"the {suffix.upper()} output": out / f"{stem}.{suffix}" for suffix in suffixes}


def write_outputs(report: Report, out: Path, formats: Sequence[str]) -> list[Path]:
    """Every file of the report (`formats` and the report's), rendered first and then written together:
    a failure or a stop while writing leaves the old set as it was, never a mix (fileio.write_all)."""
    from dstt_profile.render.tabular import render_csv, render_json

    ensure_dir(out)
    stem = result_stem(report.result)
    texts: dict[str, str] = {}
    if "json" in formats:
        texts["json"] = render_json(report)
    if "csv" in formats:
        texts["csv"] = render_csv(report)
    for target in REPORT_WRITERS:
        renderer: Callable[..., Any] | None = load(target)
        if renderer is not None:
            texts.update(renderer(report))
    return write_all({out / f"{stem}.{suffix}": text for suffix, text in texts.items()})


def _step_line(stream: TextIO, run: RunConfig) -> Callable[[str], None]:
    def show(step: str) -> None:
        stream.write(f"measuring t={run.frames}: {step} ...\n")
        stream.flush()

    return show


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
    checked = check_checkpoint(args.checkpoint, runs[0]) if args.checkpoint is not None else None
    return runs, formats, repeats, out, checked


def run_job(args: argparse.Namespace, show: bool = True) -> tuple[int, Report, list[Path]]:
    """The main job for parsed options: exit code, report and files written (printed unless not `show`)."""
    from dstt_profile.api import profile_runs
    from dstt_profile.render.terminal import render

    runs, formats, repeats, out, checked = plan_job(args)
    quiet = args.quiet
    report = profile_runs(
        runs,
        measure=args.measure,
        repeats=repeats,
        fvcore=args.fvcore,
        keep_ops="traced" if args.keep_ops else "last",
        meta={"checkpoint": checked} if checked is not None else None,
        progress=sweep_progress(sys.stderr, sys.stderr.isatty()) if len(runs) > 1 and not quiet else None,
        step=None if quiet else lambda run: _step_line(sys.stderr, run),
    )
    written = write_outputs(report, out, formats)
    if show and not quiet:
        print(render(report))
        if checked is not None:
            print(checked)
        print()
        for path in written:
            print(f"wrote {path}")
    failed = any(not c.passed for r in report.runs for c in r.checks)
    return 1 if failed else 0, report, written
