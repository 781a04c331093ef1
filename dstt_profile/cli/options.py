"""Every subcommand's options, turned into typed configs: a run's options are declared once
(`add_run_options`) and built by runs.build_run. A parse error is a `UsageError`: one line, exit 2."""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Sequence
from typing import Any, NoReturn

from dstt_profile.analysis.fit import GATES
from dstt_profile.errors import UsageError
from dstt_profile.profiles.dstt.args import SHORTHANDS
from dstt_profile.records import runconfig as rc
from dstt_profile.records.runconfig import ArgValue, RunConfig, parse_frames
from dstt_profile.runs import build_run
from dstt_profile.units import BYTE_UNIT_LIST
from dstt_profile.values import positive, shown

PROG = "dstt-profile"
FORMATS = ("json", "csv")
MAX_REPEATS, DEFAULT_REPEATS = 1000, 3
MAX_COMBINATIONS = 64  # the most configurations one fit searches

SUBCOMMAND_USAGE: dict[str, str] = {
    "report": "report RESULT.json (re-render a saved result)",
    "check": "check BUDGETS.toml (memory and FLOP budgets, for CI)",
    "fit": "fit --budget SIZE [--gate peak|footprint] (the largest t that fits; lists of --res, --dtype, ... give a grid)",
    "diff": "diff A.json B.json [--max-growth +2%] (what changed between two saved results)",
    "scaling": "scaling [--frames 1:8 ...] (exact laws in t and the crossovers)",
    "training": "training [--frames 5 --batch 8 ...] (the training step's peak, split)",
    "verify": "verify [--frames 1,2 --res 120x216 ...] (the prediction against this machine's real passes, op by op)",
    "whatif": "whatif [--frames 32 ...] (matmul against sdpa attention)",
    "seed": "seed (the seed analysis table, checked)",
    "compare": "compare --model A --model B ... (several models on one clip, side by side)",
    "ir": "ir MODEL.xml [--frames T --res HxW] [--stages FILE.toml] (an OpenVINO IR's layers, stages and formula checks)",
}

MAIN_ONLY = ("measure", "repeats", "fvcore", "format", "out", "quiet", "runtime")
RUNTIMES = ("pytorch", "openvino")  # --runtime: what else runs the main job's network (docs/openvino.md)


class UsageParser(argparse.ArgumentParser):
    """argparse for `dstt-profile NAME` whose errors are UsageError (one line, exit 2), each after `prefix`."""

    def __init__(self, name: str, prefix: str = "", **kwargs: Any) -> None:
        super().__init__(prog=f"{PROG} {name}".rstrip(), **kwargs)
        self.prefix = prefix

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prefix}{message}")


# Option name -> (default, help); `--frames` and the model options apart. DSTT's shorthands default to
# None: unset, they leave the model's own default (and another model refuses them).
RUN_HELP: dict[str, tuple[str | None, str]] = {
    "res": ("240x432", "frame size HEIGHTxWIDTH (default 240x432)"),
    "dtype": ("float32", f"one of {', '.join(rc.DTYPES)} (int8: storage what-if)"),
    "batch": ("1", "clips per batch (default 1)"),
    "device": ("cpu", f"device type traced: {', '.join(rc.DEVICES)}"),
    "mode": ("inference", f"one of {', '.join(rc.MODES)}"),
    **{s.name: (None, s.help) for s in SHORTHANDS},
    "optimizer": (rc.OPTIMIZERS[0], f"train mode: optimizer whose state the footprint holds, {', '.join(rc.OPTIMIZERS)} (default adam)"),
    "threads": (None, "CPU threads to predict for (the deployment machine's; default: this process's, torch.get_num_threads())"),
    "memory": (rc.MEMORY_VIEWS[0], "which peak counts: allocator (default: what the device's allocator holds, with workspaces "
               "and storages at real size) or tensors (live tensors only)"),
}
LIST_HELP = ", or a comma-separated list (every combination is run)"
# The options every subcommand that describes a run takes (fit: all but --frames).
RUN_OPTIONS = ("frames", *RUN_HELP, "model", "model_arg", "model_path", "stages", "inputs", "checkpoint")


def add_run_options(p: argparse.ArgumentParser, lists: Sequence[str] = ()) -> None:
    """Every option of a run but --frames; those in `lists` also take a list."""
    for name, (default, text) in RUN_HELP.items():
        p.add_argument(f"--{name}", default=default, help=text + (LIST_HELP if name in lists else ""))
    p.add_argument("--model", default=rc.DEFAULT_MODEL,
                   help="what to profile: dstt (the built-in network, default), FILE.py:NAME or package.module:NAME "
                   "(a class or factory returning a torch.nn.Module; docs/models.md)")
    p.add_argument("--model-arg", action="append", default=[], metavar="NAME=VALUE",
                   help="an argument of the model's class or factory (repeatable; VALUE read as int, float, true/false, else text)")
    p.add_argument("--model-path", action="append", default=[], metavar="DIR",
                   help="a directory to import the model's own modules from (repeatable)")
    p.add_argument("--stages", default=None, metavar="FILE.toml", help="stage map: module-name patterns -> stage names")
    p.add_argument("--inputs", default=None, metavar="FILE.py:FUNCTION",
                   help="what the forward is called with: a function called as FUNCTION(batch=, frames=, height=, width=, "
                   "dtype=, device=) returning a tuple (positional), a dict (keywords) or a (tuple, dict) pair; its "
                   "tensors count as input (default: the clip alone)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint FILE that must load strictly into this network")


def split_list(option: str, text: str, noun: str = "value") -> list[str]:
    """A comma-separated list of `option`: no empty or repeated `noun`."""
    items = [part.strip() for part in text.split(",")]
    if not all(items):
        raise UsageError(f"{option} {shown(text)}: an empty {noun} in the list")
    if len(set(items)) != len(items):
        raise UsageError(f"{option} {shown(text)}: {'an' if noun[0] in 'aeiou' else 'a'} {noun} is repeated")
    return items


def option_lists(args: argparse.Namespace, names: Sequence[str], noun: str = "value") -> list[tuple[str | None, ...]]:
    """Each option in `names` split (split_list); (None,) for one left unset, which stays unset."""
    return [tuple(split_list(f"--{n}", getattr(args, n), noun)) if getattr(args, n) is not None else (None,) for n in names]


def model_args(args: argparse.Namespace) -> dict[str, ArgValue]:
    """The --model-arg NAME=VALUE values, each name once."""
    from dstt_profile.profiles.loader import parse_arg

    given: dict[str, ArgValue] = {}
    for name, value in map(parse_arg, args.model_arg):
        if name in given:
            raise UsageError(f"--model-arg {name}= is given twice")
        given[name] = value
    return given


def run_config(args: argparse.Namespace, frames: int = 1, **chosen: str | None) -> RunConfig:
    """The one run the options describe at `frames`; `chosen` overrides options given as lists (one value each)."""
    values = {**{name: getattr(args, name) for name in RUN_HELP}, **chosen}
    shorthands = {s.name: s.parse(values[s.name], f"--{s.name}") for s in SHORTHANDS if values[s.name] is not None}
    threads = positive(values["threads"], "--threads", rc.MAX_THREADS) if values["threads"] is not None else 0
    fields = {name: values[name] for name in ("dtype", "device", "mode", "memory", "optimizer")}
    return build_run(frames, values["res"], option="--res", shorthands=shorthands, batch=positive(values["batch"], "--batch"),
                     threads=threads, model=args.model, model_args=model_args(args), model_path=tuple(args.model_path),
                     stages=args.stages, inputs=args.inputs, **fields)


def runs_from_options(args: argparse.Namespace) -> list[RunConfig]:
    """One validated run per t of --frames."""
    frames, base = parse_frames(args.frames), run_config(args)
    return [base.replace(frames=t) for t in frames]


def main_parser() -> UsageParser:
    p = UsageParser("", description="Shapes, FLOPs, activation bytes and the peak of every DSTT stage, for any clip length t.",
                    epilog=f"Subcommands: {'; '.join(SUBCOMMAND_USAGE.values())}. Exit codes: 0 ok, "
                    "1 a check or budget failed, 2 bad usage or input.")
    p.add_argument("--frames", default="14",
                   help=f"t: 14, a list 1,2,4,8, or a range 1:32 or 1:64:8 (t <= {rc.MAX_FRAMES}, at most {rc.MAX_SWEEP} values)")
    add_run_options(p, lists=("dtype", "attention", "mode"))
    p.add_argument("--measure", action="store_true",
                   help="also run the model for real (on --device): measured peak beside the prediction, its error, "
                   "wall time per stage, RSS")
    p.add_argument("--repeats", default=None, help="timed real passes per run with --measure (median; default 3)")
    p.add_argument("--fvcore", action="store_true", help="also count with fvcore on real tensors (small t)")
    p.add_argument("--runtime", default=RUNTIMES[0], choices=RUNTIMES,
                   help="pytorch (default), or openvino: also convert each run to an OpenVINO IR (saved beside the "
                   "report) and compare its stages; with --measure, OpenVINO's time per stage and peak RSS beside "
                   "PyTorch's (needs the extra: pip install 'dstt-profile[openvino]')")
    p.add_argument("--format", default="json,csv", help="files to write: json, csv (comma-separated)")
    p.add_argument("--out", default="reports", help="directory for the files (default reports/)")
    p.add_argument("--keep-ops", action="store_true",
                   help="in a sweep, keep every traced run's per-op detail (default: the largest t's only; derived runs "
                   "never carry it: profile that t alone for its detail)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def formats(text: str) -> tuple[str, ...]:
    found = tuple(f.strip() for f in text.split(",") if f.strip())
    if not found or any(f not in FORMATS for f in found):
        raise UsageError(f"--format {text!r}: choose from {', '.join(FORMATS)}")
    return found


def repeats(args: argparse.Namespace) -> int:
    if args.repeats is None:
        return DEFAULT_REPEATS
    count = positive(args.repeats, "--repeats", MAX_REPEATS)
    if not args.measure:
        raise UsageError("--repeats counts the timed real passes of --measure: add --measure or leave it out")
    return count


def analysis_parser(name: str, description: str, frames: str | None = None) -> UsageParser:
    """The main job's options under `dstt-profile NAME` (the same rules and messages)."""
    p = main_parser()
    p.prog = f"{PROG} {name}"
    p.description = description
    p.epilog = (f"The main job's options --measure, --repeats, --fvcore, --format, --out, --quiet and --runtime do not "
                f"apply to {name}.")
    if frames is not None:
        p.set_defaults(frames=frames)
    return p


def analysis_runs(name: str, description: str, argv: Sequence[str], frames: str | None = None,
                  fixed: Sequence[str] = ()) -> list[RunConfig]:
    """The runs analysis `name` is asked for; UsageError for an option it does not take (`fixed` too)."""
    p = analysis_parser(name, description, frames)
    args = p.parse_args(list(argv))
    for dest in (*MAIN_ONLY, *fixed):
        if getattr(args, dest) != p.get_default(dest):
            raise UsageError(f"{name}: --{dest} does not apply here")
    return runs_from_options(args)


FIT_LISTS = ("res", "dtype", "attention", "mode", "batch")  # options of fit that take a list


def fit_parser() -> UsageParser:
    p = UsageParser("fit", description="Largest t whose activation peak or footprint stays within a memory budget. --res, "
                    "--dtype, --attention, --mode and --batch take comma-separated lists: one row per combination.")
    p.add_argument("--budget", required=True,
                   help=f"memory budget: a number with a unit ({BYTE_UNIT_LIST}), e.g. 16GiB, or bytes")
    p.add_argument("--gate", default="footprint",
                   help="what must fit: footprint (default: weights + input + activation peak + optimizer state in train "
                   "mode + the assumed CUDA context) or peak (the activation peak above weights and input)")
    add_run_options(p, lists=FIT_LISTS)
    p.add_argument("--format", default="text", help="text or json")
    return p


def fit_configs(args: argparse.Namespace) -> list[RunConfig]:
    """Every configuration fit's options name (lists multiply), validated; frames 1."""
    if args.format not in ("text", "json"):
        raise UsageError(f"--format {args.format!r}: choose text or json")
    if args.gate not in GATES:
        raise UsageError(f"--gate {args.gate!r}: choose {' or '.join(GATES)}")
    lists = option_lists(args, FIT_LISTS, "item")
    count = math.prod(map(len, lists))
    if count > MAX_COMBINATIONS:
        raise UsageError(f"{count} combinations is more than {MAX_COMBINATIONS} in one fit")
    seen: dict[RunConfig, tuple[str | None, ...]] = {}
    for combo in itertools.product(*lists):
        config = run_config(args, 1, **dict(zip(FIT_LISTS, combo)))
        if config in seen:
            first, again = zip(*((a, b) for a, b in zip(seen[config], combo) if a != b))
            raise UsageError(f"fit: {', '.join(map(str, first))} and {', '.join(map(str, again))} are one "
                             "configuration, written two ways: give it once")
        seen[config] = combo
    return list(seen)


def report_parser() -> UsageParser:
    p = UsageParser("report", description="Re-render a saved result JSON as the HTML report.", prefix="report: ")
    p.add_argument("result", help="a result JSON written by dstt-profile")
    p.add_argument("--out", default=None,
                   help="directory for the files, named as the main job names them (default: beside the JSON, as "
                   "X.report.html, .graphml and .dot for X.json, so the original report stays)")
    return p


def diff_parser() -> UsageParser:
    p = UsageParser("diff", description="What changed between two saved results: configuration, totals, stages, op families, "
                    "the first op where the traces diverge.",
                    epilog="Exit codes: 0 ok, 1 a figure grew by more than --max-growth, 2 bad usage or input.")
    p.add_argument("a", help="the result before (a JSON written by dstt-profile)")
    p.add_argument("b", help="the result after")
    p.add_argument("--max-growth", default=None,
                   help="fail (exit 1) when the peak, the FLOPs or a stage's bytes grew by more than this, e.g. +2%%")
    return p


def check_parser() -> UsageParser:
    p = UsageParser("check", description="Check DSTT's memory and FLOPs against the budgets in a TOML file (fake tensors).",
                    epilog="Exit codes: 0 every budget holds, 1 a budget is exceeded or a figure grew past its "
                    "baseline tolerance, 2 bad input.")
    p.add_argument("budgets", help="budgets file (TOML, [[budget]] entries)")
    p.add_argument("--junit", help="also write JUnit XML here")
    p.add_argument("--json", help="also write a machine-readable result here")
    p.add_argument("--baseline", help="baseline file (default: BUDGETS with suffix .baseline.json)")
    p.add_argument("--update", action="store_true", help="write the current figures to the baseline file")
    return p
