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

from dstt_profile.cli import edge
from dstt_profile.cli.modelopts import add_model_options, model_fields
from dstt_profile.cli.progress import sweep_progress
from dstt_profile.errors import TraceError, UsageError
from dstt_profile.fileio import check_outputs, ensure_dir, output_path, remove_pending
from dstt_profile.numbers import INT64_MAX, positive
from dstt_profile.profiles.registry import normalised, resolve
from dstt_profile.records.runconfig import (
    DEVICES,
    DTYPES,
    MAX_FRAMES,
    MAX_SWEEP,
    MEMORY_VIEWS,
    MODES,
    OPTIMIZERS,
    RunConfig,
    parse_frames,
    parse_res,
)
from dstt_profile.records.schema import Result

PROG = "dstt-profile"
FORMATS = ("json", "csv")
MAX_REPEATS = 1000
DEFAULT_REPEATS = 3


class UsageParser(argparse.ArgumentParser):
    """argparse whose errors are UsageError: one line and exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _main_parser() -> argparse.ArgumentParser:
    p = UsageParser(
        prog=PROG,
        description="Shapes, FLOPs, activation bytes and the peak of every DSTT stage, for any clip length t.",
        epilog=f"Subcommands: {'; '.join(SUBCOMMAND_USAGE[name] for name in SUBCOMMANDS)}. Exit codes: 0 ok, "
        "1 a check or budget failed, 2 bad usage or input.",
    )
    p.add_argument(
        "--frames",
        default="14",
        help=f"t: 14, a list 1,2,4,8, or a range 1:32 or 1:64:8 (t <= {MAX_FRAMES}, at most {MAX_SWEEP} values)",
    )
    p.add_argument("--res", default="240x432", help="frame size HEIGHTxWIDTH (default 240x432)")
    p.add_argument("--dtype", default="float32", help=f"one of {', '.join(DTYPES)} (int8: storage what-if), or a list such as float32,bfloat16")
    p.add_argument("--batch", default="1", help="clips per batch (default 1)")
    p.add_argument("--device", default="cpu", help=f"device type traced: {', '.join(DEVICES)}")
    p.add_argument(
        "--attention", default=None, help="DSTT's attention backend: matmul (default) or sdpa, or both: matmul,sdpa"
    )
    p.add_argument("--mode", default="inference", help=f"one of {', '.join(MODES)}, or a list (lists run every combination, side by side)")
    p.add_argument("--heads", default=None, help="DSTT's attention heads k (default 4)")
    p.add_argument("--zones", default=None, help="DSTT's zones per side s in temporal blocks (default 2)")
    add_size_options(p)
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
    p.add_argument("--repeats", default=None, help="timed real passes per run with --measure (median; default 3)")
    p.add_argument("--fvcore", action="store_true", help="also count with fvcore on real tensors (small t)")
    p.add_argument("--format", default="json,csv", help="files to write: json, csv (comma-separated)")
    p.add_argument("--out", default="reports", help="directory for the files (default reports/)")
    p.add_argument(
        "--keep-ops",
        action="store_true",
        help="in a sweep, keep every traced run's per-op detail (default: the largest t's only; derived runs never "
        "carry it: profile that t alone for its detail)",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def add_size_options(p: argparse.ArgumentParser) -> None:
    """The model and its size, the optimizer a training step keeps state for, and a checkpoint to
    check against them: shared by the main job and `fit`."""
    add_model_options(p)
    p.add_argument("--hidden", default=None, help="DSTT's token width d (default 512)")
    p.add_argument("--channel", default=None, help="DSTT's encoder channels c (default 256)")
    p.add_argument("--blocks", default=None, help="DSTT's transformer blocks L (default 8)")
    p.add_argument(
        "--optimizer",
        default=OPTIMIZERS[0],
        help=f"train mode: optimizer whose state the footprint holds, {', '.join(OPTIMIZERS)} (default adam)",
    )
    p.add_argument("--checkpoint", default=None, help="a checkpoint FILE that must load strictly into this network")


def size_options(args: argparse.Namespace, attention: str | None = None) -> dict[str, Any]:
    """RunConfig fields from the options `add_size_options` adds (and --heads, --zones and `attention`,
    DSTT's shorthands for model arguments)."""
    return dict(optimizer=args.optimizer, **model_fields(args, attention))


def positive_int(name: str, text: str, high: int = INT64_MAX) -> int:
    """The value of option --`name`: ASCII digits, at least 1 and at most `high`."""
    return positive(text, f"--{name}", high)


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
        mode=args.mode,
        memory=args.memory,
        **size_options(args, args.attention),
    )
    return [normalised(RunConfig(frames=t, **common)) for t in frames]


def stem_for(runs: Sequence[RunConfig]) -> str:
    """The file-name stem of a result holding `runs`: dstt_t14_240x432_float32, dstt_t1-32_..."""
    first = runs[0]
    slug = resolve(first).slug(first)
    if len(runs) == 1:
        return slug
    frames = [r.frames for r in runs]
    return slug.replace(f"_t{first.frames}_", f"_t{min(frames)}-{max(frames)}_", 1)


def result_stem(result: Result) -> str:
    return stem_for([RunConfig.from_dict(r.config) for r in result.runs])


def planned_outputs(out: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    """Every file the main job will write, by what it is: checked before the work starts."""
    suffixes = [*formats, *(suffix for target in REPORT_WRITERS for suffix in REPORT_WRITERS[target])]
    return {f"the {suffix.upper()} output": out / f"{stem}.{suffix}" for suffix in suffixes}


def write_outputs(result: Result, out: Path, formats: Sequence[str]) -> list[Path]:
    from dstt_profile.fileio import write_atomic
    from dstt_profile.render.tabular import render_csv, render_json

    ensure_dir(out)
    stem = result_stem(result)
    written = []
    if "json" in formats:
        written.append(write_atomic(out / f"{stem}.json", render_json(result)))
    if "csv" in formats:
        written.append(write_atomic(out / f"{stem}.csv", render_csv(result)))
    return written


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


def main_job(argv: Sequence[str]) -> int:
    args = _main_parser().parse_args(argv)
    from dstt_profile.analysis.combos import combinations, run_combinations

    variants = combinations(args)  # lists in --dtype, --attention, --mode: every combination
    if len(variants) > 1:
        return run_combinations(variants)
    return run_job(args)[0]


def plan_job(args: argparse.Namespace) -> tuple[list[RunConfig], tuple[str, ...], int, Path, str | None]:
    """Everything the main job checks before any work: runs, formats, repeats, the output files, the
    checkpoint (what its check said, or None without one)."""
    runs = runs_from_args(args)
    formats = _formats(args.format)
    repeats = positive_int("repeats", args.repeats, MAX_REPEATS) if args.repeats is not None else DEFAULT_REPEATS
    if args.repeats is not None and not args.measure:
        raise UsageError("--repeats counts the timed real passes of --measure: add --measure or leave it out")
    if args.measure and any(r.mode != "inference" for r in runs):
        raise UsageError("--measure runs the forward pass: use --mode inference")
    out = output_path(args.out, "--out")
    assert out is not None
    ensure_dir(out)  # fail before the work, not after
    check_outputs(planned_outputs(out, stem_for(runs), formats))
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

    if not args.quiet:
        from dstt_profile.engine.workspace import default_cache

        default_cache(runs[0].device).notify = lambda line: print(line, file=sys.stderr, flush=True)
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
    for target in REPORT_WRITERS:
        writer = _load(target)
        if writer is not None:
            written += writer(result, out, result_stem(result))
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


# Extra outputs of the main job, "module:function" with function(result, out_dir) -> paths written,
# and the suffixes of the files it writes (checked before the work). The HTML report plugs in here.
REPORT_WRITERS: dict[str, tuple[str, ...]] = {"dstt_profile.render.html:write_report": ("html", "graphml", "dot")}

# Subcommands: name -> "module:function", function(argv) -> exit code. Imported only when used.
SUBCOMMANDS: dict[str, str] = {
    "report": "dstt_profile.cli.report:report_command",
    "check": "dstt_profile.analysis.budgets:check_command",
    "fit": "dstt_profile.analysis.fit:fit_command",
    "diff": "dstt_profile.analysis.diff:diff_command",
    "scaling": "dstt_profile.cli.analyses:scaling_command",
    "whatif": "dstt_profile.cli.analyses:whatif_command",
    "training": "dstt_profile.cli.analyses:training_command",
    "seed": "dstt_profile.cli.analyses:seed_command",
}
SUBCOMMAND_USAGE: dict[str, str] = {
    "report": "report RESULT.json (re-render a saved result)",
    "check": "check BUDGETS.toml (memory and FLOP budgets, for CI)",
    "fit": "fit --budget SIZE [--gate peak|footprint] (the largest t that fits; lists of --res, --dtype, ... give a grid)",
    "diff": "diff A.json B.json [--max-growth +2%] (what changed between two saved results)",
    "scaling": "scaling [--frames 1:8 ...] (exact laws in t and the crossovers)",
    "whatif": "whatif [--frames 32 ...] (matmul against sdpa attention)",
    "training": "training [--frames 5 --batch 8 ...] (the training step's peak, split)",
    "seed": "seed (the seed analysis table, checked)",
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


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in SUBCOMMANDS:
        command = _load(SUBCOMMANDS[argv[0]])
        if command is None:
            raise UsageError(f"subcommand {argv[0]!r} is not available in this installation")
        return int(command(argv[1:]))
    return main_job(argv)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever ends it, temporary files are removed and the user gets one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with edge.stop_signals_raise(), edge.quiet_libraries():
            code = _dispatch(argv)
            edge.flush_stdout()
            return code
    except (UsageError, TraceError) as exc:
        _error(str(exc))
        return 2
    except MemoryError:
        _error("out of memory: use a smaller t, batch or frame size")
        return 2
    except OSError as exc:  # standard output on a full disk or a closed pipe
        edge.silence_stdout()
        _error(f"cannot write the output: {exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except edge.Stopped as exc:
        print(f"{PROG}: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    finally:
        remove_pending()


if __name__ == "__main__":
    sys.exit(main())
