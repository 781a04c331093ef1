"""`dstt-profile compare`: several models on one clip, side by side: one table, one HTML page, one JSON file
(docs/cli.md). Each `--model REF` starts a model and the per-model options after it (`--model-arg`, `--model-path`,
`--inputs`, `--stages`, `--label`, DSTT's size options) apply to it; `--models FILE.toml` adds a file's `[[model]]`
tables. Every model is built with runs.build_run, profiled by api.profile_runs (its run at t and the scaling series
its laws are fitted to) and searched by pipeline/search.py for the largest t within `--budget`."""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dstt_profile.analysis.fit import GATES
from dstt_profile.cli import options
from dstt_profile.cli.job import MAX_STEM
from dstt_profile.cli.options import RUN_HELP, UsageParser
from dstt_profile.errors import TraceError, UsageError
from dstt_profile.fileio import check_outputs, ensure_dir, output_path, read_toml, write_all
from dstt_profile.profiles.dstt.args import SHORTHAND_NAMES, SHORTHANDS
from dstt_profile.profiles.registry import resolve
from dstt_profile.records import runconfig as rc
from dstt_profile.records.compare import Comparison
from dstt_profile.records.runconfig import ArgValue, RunConfig, parse_frames, parse_res
from dstt_profile.runs import build_run
from dstt_profile.units import BYTE_UNIT_LIST, fmt_bytes, parse_bytes
from dstt_profile.values import positive, shown

DEFAULT_BUDGET = "24GiB"
LIST_OPTIONS = ("model_arg", "model_path")  # per-model options that may be given more than once
SCALAR_OPTIONS = ("inputs", "stages", "label")  # per-model options given at most once for a model
MODEL_KEYS = ("model", "label", "model_args", "model_path", "inputs", "stages")  # a [[model]] table's keys
CLIP_OPTIONS = tuple(name for name in RUN_HELP if name not in SHORTHAND_NAMES)  # what every model shares


@dataclass(frozen=True)
class ModelSpec:
    """One model as given: on the command line (`where` "--model REF") or in a models file ("FILE: model #2")."""

    where: str
    model: str
    model_args: dict[str, ArgValue]
    shorthands: dict[str, ArgValue]
    model_path: tuple[str, ...] = ()
    inputs: str | None = None
    stages: str | None = None
    label: str | None = None

    @property
    def given_args(self) -> tuple[tuple[str, ArgValue], ...]:
        return tuple(sorted({**self.model_args, **self.shorthands}.items()))


def _groups(namespace: argparse.Namespace) -> list[dict[str, Any]]:
    if getattr(namespace, "groups", None) is None:
        namespace.groups = []
    groups: list[dict[str, Any]] = namespace.groups
    return groups


class _NewModel(argparse.Action):
    """`--model REF`: a new model; what follows applies to it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        _groups(namespace).append({"model": values, "model_arg": [], "model_path": [], "shorthands": {},
                                   **dict.fromkeys(SCALAR_OPTIONS)})


class _ModelsFile(argparse.Action):
    """`--models FILE.toml`: the file's models, in its order, here among the others."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        _groups(namespace).append({"file": values})


class _ForModel(argparse.Action):
    """A per-model option: it applies to the model whose --model came last before it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        groups = _groups(namespace)
        if not groups or "file" in groups[-1]:
            parser.error(f"{option_string} applies to one model: give it after that model's --model REF")
        group = groups[-1]
        if self.dest in LIST_OPTIONS:
            group[self.dest].append(values)
            return
        held = group if self.dest in SCALAR_OPTIONS else group["shorthands"]
        if held.get(self.dest) is not None:
            parser.error(f"{option_string} is given twice for --model {group['model']}")
        held[self.dest] = values


def compare_parser() -> UsageParser:
    p = UsageParser("compare", prefix="compare: ", description=(
        "Several models on one clip, side by side: parameters, FLOPs, the peak and where it is, the footprint, the "
        "largest t within a memory budget and the laws in t of the peak and the FLOPs. Each --model REF starts a "
        "model; --model-arg, --model-path, --inputs, --stages, --label and DSTT's size options after it apply to it."),
        epilog="Exit codes: 0 ok, 1 a model's formula checks failed, 2 bad usage or input (one line).")
    p.set_defaults(groups=None)
    p.add_argument("--model", action=_NewModel, metavar="REF",
                   help="a model to compare: dstt, FILE.py:NAME or package.module:NAME (docs/models.md); repeat it")
    p.add_argument("--models", action=_ModelsFile, metavar="FILE.toml",
                   help="models from a file: one [[model]] table each (keys: " + ", ".join(MODEL_KEYS) + ")")
    p.add_argument("--model-arg", action=_ForModel, metavar="NAME=VALUE", default=argparse.SUPPRESS,
                   help="an argument of the model's class or factory (repeatable)")
    p.add_argument("--model-path", action=_ForModel, metavar="DIR", default=argparse.SUPPRESS,
                   help="a directory the model imports its own modules from (repeatable)")
    p.add_argument("--inputs", action=_ForModel, metavar="FILE.py:FUNCTION", default=argparse.SUPPRESS,
                   help="what the model's forward is called with (docs/models.md; default: the clip alone)")
    p.add_argument("--stages", action=_ForModel, metavar="FILE.toml", default=argparse.SUPPRESS,
                   help="the model's stage map: module-name patterns -> stage names")
    p.add_argument("--label", action=_ForModel, metavar="TEXT", default=argparse.SUPPRESS,
                   help="the model's name in the table (default: its profile's title, else its reference)")
    for s in SHORTHANDS:
        p.add_argument(f"--{s.name}", action=_ForModel, default=argparse.SUPPRESS, help=f"{s.help}, for one DSTT model")
    p.add_argument("--frames", default="14", help="t: the clip length every model runs on (one value, default 14)")
    for name in CLIP_OPTIONS:
        default, text = RUN_HELP[name]
        p.add_argument(f"--{name}", default=default, help=text)
    p.add_argument("--budget", default=DEFAULT_BUDGET,
                   help=f"memory budget of the max t column: a number with a unit ({BYTE_UNIT_LIST}), default {DEFAULT_BUDGET}")
    p.add_argument("--gate", default="footprint",
                   help="what must fit the budget: footprint (default: weights + input + activation peak, ...) or peak")
    p.add_argument("--format", default="json,csv", help="files to write beside the HTML page: json, csv (comma-separated)")
    p.add_argument("--out", default="reports", help="directory for the files (default reports/)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def budget_of(text: str) -> int:
    try:
        budget = parse_bytes(text)
    except UsageError as exc:
        raise UsageError(f"--budget: {exc}") from None
    if budget <= 0:
        raise UsageError(f"--budget {shown(text)}: a budget is more than 0 bytes")
    return budget


def clip_of(args: argparse.Namespace) -> RunConfig:
    """The clip and how it is run, validated by RunConfig's own rules before any model is loaded."""
    frames = parse_frames(args.frames)
    if len(frames) != 1:
        raise UsageError(f"--frames {shown(args.frames)}: give one t, the clip every model runs on ({len(frames)} given)")
    height, width = parse_res(args.res)
    threads = positive(args.threads, "--threads", rc.MAX_THREADS) if args.threads is not None else 0
    fields = {name: getattr(args, name) for name in ("dtype", "device", "mode", "memory", "optimizer")}
    return RunConfig(frames=frames[0], height=height, width=width, batch=positive(args.batch, "--batch"),
                     threads=threads, **fields)


def _near(path: Path, value: Any) -> Any:
    """A path in a models file, relative to the file's directory (a value that is no path: as it is)."""
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    return str(path.parent / value)


def _near_reference(path: Path, value: Any) -> Any:
    """FILE.py:NAME with FILE relative to the models file; a module reference as it is."""
    if isinstance(value, str) and value.rpartition(":")[0].endswith(".py"):
        target, _, name = value.rpartition(":")
        return f"{_near(path, target)}:{name}"
    return value


def _text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: key {key!r}: expected text, got {shown(value)}")
    return value


def load_models(path: Path) -> list[ModelSpec]:
    """The `[[model]]` tables of a models file, paths relative to it; UsageError naming the file, entry and key."""
    data = read_toml(path, f"--models {path}", "no such file", "cannot read it: {exc}", "not valid TOML: {exc}")
    if unknown := sorted(set(data) - {"model"}):
        raise UsageError(f"{path}: unknown top-level key {unknown[0]!r} (expected [[model]] tables)")
    entries = data.get("model")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise UsageError(f"{path}: no [[model]] tables (each: model = \"REF\", and optionally "
                         f"{', '.join(MODEL_KEYS[1:])})")
    specs = []
    for i, raw in enumerate(entries, start=1):
        where = f"{path}: model #{i}"
        if unknown := sorted(set(raw) - set(MODEL_KEYS)):
            raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(MODEL_KEYS)})")
        if "model" not in raw:
            raise UsageError(f"{where}: every [[model]] needs model = \"REF\"")
        args = raw.get("model_args", {})
        if not isinstance(args, dict):
            raise UsageError(f"{where}: key 'model_args': expected a table of name = value, got {shown(args)}")
        paths = raw.get("model_path", [])
        paths = [paths] if isinstance(paths, str) else paths
        if not isinstance(paths, list):
            raise UsageError(f"{where}: key 'model_path': expected a directory or a list of them, got {shown(paths)}")
        scalars = {key: _text(where, key, raw[key]) if key in raw else None for key in ("inputs", "stages", "label")}
        specs.append(ModelSpec(where, _near_reference(path, _text(where, "model", raw["model"])), dict(args), {},
                               tuple(_near(path, _text(where, "model_path", p)) for p in paths),
                               _near_reference(path, scalars["inputs"]), _near(path, scalars["stages"]),
                               scalars["label"]))
    return specs


def specs_of(args: argparse.Namespace) -> tuple[list[ModelSpec], dict[str, Path]]:
    """Every model in the order given, and the models files read (inputs no output may overwrite)."""
    specs: list[ModelSpec] = []
    files: dict[str, Path] = {}
    for group in args.groups or []:
        if "file" in group:
            path = output_path(group["file"], "--models")
            assert path is not None
            files[f"the models file {path}"] = path
            specs += load_models(path)
            continue
        model = group["model"]
        given = options.model_args(argparse.Namespace(model_arg=group["model_arg"]))
        short = {s.name: s.parse(group["shorthands"][s.name], f"--{s.name}") for s in SHORTHANDS
                 if s.name in group["shorthands"]}
        specs.append(ModelSpec(f"--model {model}", model, given, short, tuple(group["model_path"]), group["inputs"],
                               group["stages"], group["label"]))
    return specs, files


def run_of(clip: RunConfig, spec: ModelSpec) -> RunConfig:
    """The model's run on the clip (runs.build_run: its arguments checked, its model loaded), UsageError naming it."""
    fields = {name: getattr(clip, name) for name in ("batch", "dtype", "device", "mode", "memory", "optimizer", "threads")}
    try:
        return build_run(clip.frames, (clip.height, clip.width), option="--res", shorthands=spec.shorthands,
                         model=spec.model, model_args=spec.model_args, model_path=spec.model_path, stages=spec.stages,
                         inputs=spec.inputs, **fields)
    except UsageError as exc:
        message = str(exc)
        raise UsageError(message if message.startswith(spec.where) else f"{spec.where}: {message}", exc.field) from None


def _reference(text: str | None) -> str | None:
    """A model or inputs reference as one name whatever the path to its file: FILE.py resolved."""
    if text is None:
        return None
    target, sep, name = text.rpartition(":")
    return f"{Path(target).resolve()}:{name}" if sep and target.endswith(".py") else text


def label_of(spec: ModelSpec, run: RunConfig) -> str:
    if spec.label is None:
        return resolve(run).title or run.model
    if not spec.label.strip() or not spec.label.isprintable():
        raise UsageError(f"{spec.where}: --label {shown(spec.label)}: a label is printable text, not empty")
    return spec.label


def plan_models(clip: RunConfig, specs: Sequence[ModelSpec]) -> list[tuple[str, RunConfig, ModelSpec]]:
    """(label, run, spec) per model: at least two, none given twice, each label its own."""
    if len(specs) < 2:
        raise UsageError(f"give at least two models to compare (--model REF, or --models FILE.toml); {len(specs)} given")
    runs = [run_of(clip, spec) for spec in specs]

    def both(i: int, j: int) -> str:
        return f"model {i + 1} ({specs[i].where}) and model {j + 1} ({specs[j].where})"

    keys: dict[tuple[Any, ...], int] = {}
    for j, run in enumerate(runs):
        key = (_reference(run.model), run.model_args, _reference(run.inputs))
        if (i := keys.setdefault(key, j)) != j:
            raise UsageError(f"{both(i, j)} are one model (the same reference, arguments and inputs): give it once")
    labels: dict[str, int] = {}
    planned = []
    for j, (spec, run) in enumerate(zip(specs, runs)):
        label = label_of(spec, run)
        if (i := labels.setdefault(label, j)) != j:
            raise UsageError(f"{both(i, j)} are both labelled {label!r}: give each its own --label")
        planned.append((label, run, spec))
    return planned


def stem_of(clip: RunConfig, labels: Sequence[str]) -> str:
    """compare_dstt_tinyvideonet_t8_48x96_float32: the labels, then the clip as the main job's file names write it."""
    words = [re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "model" for label in labels]
    stem = "_".join(["compare", *words, clip.slug().removeprefix(f"{clip.model_name}_")])
    if len(stem) > MAX_STEM:
        stem = f"{stem[: MAX_STEM - 13]}_{hashlib.sha256(stem.encode()).hexdigest()[:12]}"
    return stem


def compare_models(planned: Sequence[tuple[str, RunConfig, ModelSpec]], budget: int, gate: str,
                   say: Callable[[str], None]) -> Comparison:
    """Each model profiled at t with its scaling series, then searched for its largest t; an error names its label."""
    from dstt_profile.analysis.compare import comparison, model_entry
    from dstt_profile.api import profile_runs
    from dstt_profile.pipeline.search import solve

    entries = []
    for i, (label, run, spec) in enumerate(planned, start=1):
        step = f"compare {i}/{len(planned)} {label}"
        try:
            say(f"{step}: t={run.frames} and the scaling series in t ...")
            report = profile_runs([run])
            say(f"{step}: the largest t within {fmt_bytes(budget)} ({gate}) ...")
            answer = solve(run, budget, gate=gate)
        except UsageError as exc:
            raise UsageError(f"{label}: {exc}", exc.field) from None
        except TraceError as exc:
            raise TraceError(f"{label}: {exc}") from None
        entries.append(model_entry(label, report, answer, spec.given_args))
    return comparison(entries, budget, gate)


def compare_command(argv: Sequence[str]) -> int:
    """The subcommand; every error is one line that starts `compare: `."""
    try:
        return _compare(argv)
    except UsageError as exc:
        raise UsageError(_prefixed(str(exc)), exc.field) from None
    except TraceError as exc:
        raise TraceError(_prefixed(str(exc))) from None


def _prefixed(message: str) -> str:
    """One line, starting `compare: ` (a model's own error text may hold line breaks)."""
    line = " ".join(message.split())
    return line if line.startswith("compare: ") else f"compare: {line}"


def _compare(argv: Sequence[str]) -> int:
    from dstt_profile.render.compare import compare_files, render_text

    args = compare_parser().parse_args(list(argv))
    formats = options.formats(args.format)
    budget = budget_of(args.budget)
    if args.gate not in GATES:
        raise UsageError(f"--gate {args.gate!r}: choose {' or '.join(GATES)}")
    clip = clip_of(args)
    specs, files = specs_of(args)
    planned = plan_models(clip, specs)
    out = output_path(args.out, "--out")
    assert out is not None
    ensure_dir(out)  # every check before the work, as the main job's
    stem = stem_of(clip, [label for label, _, _ in planned])
    inputs = {**files, **{what: Path(name) for _, run, _ in planned for what, name in run.input_files().items()}}
    check_outputs({f"the {suffix.upper()} output": out / f"{stem}.{suffix}" for suffix in (*formats, "html")}, inputs)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    result = compare_models(planned, budget, args.gate, say)
    texts = compare_files(result, formats)
    written = write_all({out / f"{stem}.{suffix}": text for suffix, text in texts.items()})
    if not args.quiet:
        print(render_text(result))
        print()
        for path in written:
            print(f"wrote {path}")
    return 1 if result.failed else 0
