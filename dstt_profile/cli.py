"""The command line. `dstt-profile --frames 14 --res 240x432` is the main job.

Exit codes: 0 ok, 1 a check or budget failed, 2 bad usage or bad input (one line, no traceback).
Subcommands (`report`, ...) are looked up in `SUBCOMMANDS`; anything else is the main job.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from dstt_profile.errors import TraceError, UsageError
from dstt_profile.records import Result
from dstt_profile.runconfig import DEVICES, DTYPES, MEMORY_VIEWS, MODES, RunConfig, parse_frames, parse_res

PROG = "dstt-profile"
FORMATS = ("json", "csv")


class UsageParser(argparse.ArgumentParser):
    """argparse whose errors are UsageError: one line and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _main_parser() -> argparse.ArgumentParser:
    p = UsageParser(
        prog=PROG,
        description="Shapes, FLOPs, activation bytes and the peak of every DSTT stage, for any clip length t.",
        epilog="Subcommands: report RESULT.json (re-render a saved result). Exit codes: 0 ok, 1 a check "
        "failed, 2 bad input.",
    )
    p.add_argument("--frames", default="14", help="t: 14, a list 1,2,4,8, or a range 1:32 or 1:64:8")
    p.add_argument("--res", default="240x432", help="frame size HEIGHTxWIDTH (default 240x432)")
    p.add_argument("--dtype", default="float32", help=f"one of {', '.join(DTYPES)} (int8: storage what-if)")
    p.add_argument("--batch", default="1", help="clips per batch (default 1)")
    p.add_argument("--device", default="cpu", help=f"device type traced: {', '.join(DEVICES)}")
    p.add_argument("--attention", default="matmul", help="attention backend: matmul or sdpa")
    p.add_argument("--mode", default="inference", help=f"one of {', '.join(MODES)}")
    p.add_argument("--heads", default="4", help="attention heads k (default 4)")
    p.add_argument("--zones", default="2", help="zones per side s in temporal blocks (default 2)")
    p.add_argument(
        "--memory",
        default=MEMORY_VIEWS[0],
        help="which peak is the headline: allocator (default: what the device's allocator holds, with "
        "workspaces and storages at real size) or tensors (live tensors only)",
    )
    p.add_argument(
        "--measure",
        action="store_true",
        help="also run the model for real (on --device): measured peak beside the prediction, its error, "
        "wall time per stage, RSS",
    )
    p.add_argument("--repeats", default="3", help="timed real passes per run with --measure (median; default 3)")
    p.add_argument("--fvcore", action="store_true", help="also count with fvcore on real tensors (small t)")
    p.add_argument("--format", default="json,csv", help="files to write: json, csv (comma-separated)")
    p.add_argument("--out", default="reports", help="directory for the files (default reports/)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def positive_int(name: str, text: str) -> int:
    if not text.strip().isdigit():
        raise UsageError(f"--{name} {text!r} is not a positive whole number")
    return int(text)


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UsageError(f"--format {text!r}: choose from {', '.join(FORMATS)}")
    return formats


def runs_from_args(args: argparse.Namespace) -> list[RunConfig]:
    height, width = parse_res(args.res)
    frames = parse_frames(args.frames)
    common = dict(
        height=height,
        width=width,
        batch=positive_int("batch", args.batch),
        dtype=args.dtype,
        device=args.device,
        attention=args.attention,
        mode=args.mode,
        heads=positive_int("heads", args.heads),
        zones=positive_int("zones", args.zones),
        memory=args.memory,
    )
    return [RunConfig(frames=t, **common) for t in frames]


def result_stem(result: Result) -> str:
    runs = result.runs
    first = RunConfig(**runs[0].config)
    if len(runs) == 1:
        return first.slug()
    frames = [r.frames for r in runs]
    return first.slug().replace(f"_t{first.frames}_", f"_t{min(frames)}-{max(frames)}_", 1)


def _progress(stream: TextIO) -> Callable[[int, int, RunConfig], None]:
    def show(done: int, total: int, run: RunConfig) -> None:
        width = 30
        filled = width * done // total
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} t={run.frames}   ")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def write_outputs(result: Result, out: Path, formats: Sequence[str]) -> list[Path]:
    from dstt_profile.fileio import ensure_dir, write_atomic
    from dstt_profile.render.tabular import render_csv, render_json

    ensure_dir(out)
    stem = result_stem(result)
    written = []
    if "json" in formats:
        written.append(write_atomic(out / f"{stem}.json", render_json(result)))
    if "csv" in formats:
        written.append(write_atomic(out / f"{stem}.csv", render_csv(result)))
    return written


def _measured(
    runs: Sequence[RunConfig], repeats: int, fvcore: bool, progress: Callable[[int, int, RunConfig], None] | None
) -> Result:
    """Each run predicted and measured (measure.py); real memory and time, so t stays small."""
    from dstt_profile.api import finish_record
    from dstt_profile.measure import measure
    from dstt_profile.polytrace import TRACED

    if any(r.mode != "inference" for r in runs):
        raise UsageError("--measure runs the forward pass: use --mode inference")
    if repeats < 1:
        raise UsageError("--repeats must be at least 1")
    records = []
    for i, run in enumerate(runs):
        if progress is not None:
            progress(i, len(runs), run)
        records.append(finish_record(measure(run, repeats=repeats), run, fvcore, TRACED))
    if progress is not None:
        progress(len(runs), len(runs), runs[-1])
    return Result(tuple(records))


def main_job(argv: Sequence[str]) -> int:
    args = _main_parser().parse_args(argv)
    runs = runs_from_args(args)
    formats = _formats(args.format)
    out = Path(args.out)
    from dstt_profile.fileio import ensure_dir

    ensure_dir(out)  # fail before the work, not after
    from dstt_profile.api import profile_many
    from dstt_profile.render.terminal import render

    if not args.quiet:
        from dstt_profile.workspace import default_cache

        default_cache(runs[0].device).notify = lambda line: print(line, file=sys.stderr, flush=True)
    progress = _progress(sys.stderr) if len(runs) > 1 and not args.quiet and sys.stderr.isatty() else None
    if args.measure:
        result = _measured(runs, positive_int("repeats", args.repeats), args.fvcore, progress)
    else:
        result = profile_many(runs, keep_ops=True, fvcore=args.fvcore, progress=progress)
    written = write_outputs(result, out, formats)
    for target in REPORT_WRITERS:
        writer = _load(target)
        if writer is not None:
            written += writer(result, out)
    if not args.quiet:
        print(render(result))
        print()
        for path in written:
            print(f"wrote {path}")
    failed = any(not c.passed for r in result.runs for c in r.checks)
    return 1 if failed else 0


# Extra outputs of the main job, "module:function" with function(result, out_dir) -> paths written.
# The HTML report plugs in here.
REPORT_WRITERS: tuple[str, ...] = ("dstt_profile.render.html:write_report",)

# Subcommands: name -> "module:function", function(argv) -> exit code. Imported only when used.
SUBCOMMANDS: dict[str, str] = {
    "report": "dstt_profile.render.html:report_command",
    "check": "dstt_profile.budgets:check_command",
    "fit": "dstt_profile.fit:fit_command",
}


def _load(target: str) -> Callable[..., Any] | None:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, attr, None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            command = _load(SUBCOMMANDS[argv[0]])
            if command is None:
                raise UsageError(f"subcommand {argv[0]!r} is not available in this installation")
            return int(command(argv[1:]))
        return main_job(argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except TraceError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
