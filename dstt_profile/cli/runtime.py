"""`--runtime` on the main job. `plan_runtime` checks all it can before any work (OpenVINO importable, runs it
can convert and run, the IR files and the page writable and none of them an input) and returns the job, or None
for PyTorch alone; the job runs after PyTorch's report, keeps its record in the result's `meta.openvino`,
and writes and shows what it found (docs/openvino.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from dstt_profile.cli.options import repeats
from dstt_profile.errors import UsageError
from dstt_profile.fileio import check_outputs, write_all
from dstt_profile.openvino import load
from dstt_profile.openvino.measure import precision_for
from dstt_profile.profiles.registry import resolve, slug_variants
from dstt_profile.records.openvino import META_KEY, OpenVinoRecord, from_meta, to_meta
from dstt_profile.records.report import Report
from dstt_profile.records.runconfig import RunConfig

R = TypeVar("R", bound=Report)
MAX_RUNS = 16  # values of t one --runtime openvino run converts (one conversion each)


@dataclass(frozen=True)
class OpenVinoJob:
    targets: dict[int, Path]  # t -> the IR's .xml
    page: Path  # the HTML page: the tables and the time plot
    measure: bool
    repeats: int
    quiet: bool

    def run(self, report: R) -> R:
        """The report with its runs converted (measured with --measure), the record in `meta.openvino`."""
        from dstt_profile.openvino.runtime import openvino_record

        say = None if self.quiet else lambda step: print(f"openvino {step} ...", file=sys.stderr, flush=True)
        record = openvino_record(report.runs, self.targets, self.measure, self.repeats, say)
        return replace(report, result=replace(report.result, meta={**report.result.meta, META_KEY: to_meta(record)}))

    def record(self, report: Report) -> OpenVinoRecord:
        found = from_meta(report.result.meta)
        assert found is not None, "OpenVinoJob.run first"
        return found

    def write(self, report: Report) -> list[Path]:
        """The page written; every file of the runtime's (the IR files written while converting, the page)."""
        from dstt_profile.render.openvino import render_html

        record = self.record(report)
        page = write_all({self.page: render_html(report, record)})
        return [*(Path(p) for r in record.runs for p in (r.xml, r.bin)), *page]

    def text(self, report: Report) -> str:
        from dstt_profile.render.openvino import render_text

        return render_text(report, self.record(report))


def plan_runtime(args: argparse.Namespace, runs: Sequence[RunConfig], out: Path, stem: str) -> OpenVinoJob | None:
    """The --runtime openvino job for the main job's `runs` (files under `out`, the page named from `stem`),
    everything checked first (UsageError, one line); None for --runtime pytorch."""
    if getattr(args, "runtime", "pytorch") != "openvino":
        return None
    load()
    if any(r.mode != "inference" for r in runs):
        raise UsageError("--runtime openvino converts the forward pass: use --mode inference")
    if any(r.device != "cpu" for r in runs):
        raise UsageError("--runtime openvino converts and runs on the CPU: use --device cpu")
    for r in runs:
        precision_for(r)
    if len(runs) > MAX_RUNS:
        raise UsageError(f"--runtime openvino converts the network once per t: at most {MAX_RUNS} values of --frames, "
                         f"not {len(runs)}")
    name = resolve(runs[0]).name
    targets = {r.frames: out / f"{r.slug(slug_variants(name, r))}.xml" for r in runs}
    outputs = {what: path for t, xml in targets.items()
               for what, path in ((f"the OpenVINO IR at t={t}", xml), (f"the OpenVINO weights at t={t}", xml.with_suffix(".bin")))}
    page = out / f"{stem}.openvino.html"
    inputs = {what: Path(file) for r in runs for what, file in r.input_files().items()}
    if args.checkpoint is not None:
        inputs["the checkpoint"] = Path(args.checkpoint)
    check_outputs({**outputs, "the OpenVINO page": page}, inputs)
    return OpenVinoJob(targets, page, bool(args.measure), repeats(args), bool(args.quiet))
