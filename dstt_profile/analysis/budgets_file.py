"""Reading a budgets file (TOML): one `[[budget]]` table per configuration, with its limits.

Every problem is a `UsageError` with one line naming the file, the entry and the key, for example
`budgets.toml: budget "inference, 14 frames": key 'peak': size '1.5 GB/s' has an unknown unit ...`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.profiles.registry import refuse_shorthands, resolve
from dstt_profile.records.runconfig import (
    DEFAULT_MODEL,
    DTYPES,
    MAX_FRAMES,
    MAX_THREADS,
    MEMORY_VIEWS,
    MODES,
    OPTIMIZERS,
    RunConfig,
    parse_res,
)
from dstt_profile.runs import build_run
from dstt_profile.units import parse_bytes, parse_flops
from dstt_profile.values import INT64_MAX, decimal, shown, whole_number
from model.config import ATTENTION_BACKENDS

DEFAULT_GROWTH = "+2%"
ENTRY_KEYS = frozenset(
    {
        "name", "frames", "res", "dtype", "peak", "footprint", "flops", "stages", "attention", "mode", "batch",
        "growth", "memory", "optimizer", "hidden", "channel", "blocks", "model", "model_args", "model_path",
        "stage_map", "threads",
    }
)
SIZE_KEYS = ("hidden", "channel", "blocks")  # DSTT's size keys: shorthands for model_args
_GROWTH = re.compile(r"\+?\s*([0-9.]+)\s*%", re.ASCII)
MAX_GROWTH = 1000  # percent


@dataclass(frozen=True)
class Budget:
    """One entry: the run it describes and its limits (bytes, FLOPs; None where not set)."""

    name: str
    run: RunConfig
    peak: int | None = None
    flops: int | None = None
    footprint: int | None = None
    stages: dict[str, int] = field(default_factory=dict)
    growth: float = 0.02  # fraction a metric may grow over its baseline

    def limits(self) -> dict[str, int]:
        """Metric name -> limit: 'peak', 'footprint', 'flops', 'stages.<stage>'."""
        out: dict[str, int] = {}
        if self.peak is not None:
            out["peak"] = self.peak
        if self.footprint is not None:
            out["footprint"] = self.footprint
        if self.flops is not None:
            out["flops"] = self.flops
        out.update({f"stages.{name}": value for name, value in self.stages.items()})
        return out


class _Where:
    """The file and entry a problem is reported against."""

    def __init__(self, path: Path, entry: str) -> None:
        self.path = path
        self.entry = entry

    def fail(self, key: str, message: str) -> UsageError:
        return UsageError(f"{self.path}: budget {self.entry}: key {key!r}: {message}")


def load_budgets(path: Path) -> list[Budget]:
    """Parse and validate a budgets file; UsageError (one line) on any problem."""
    data = _read_toml(path)
    unknown = sorted(set(data) - {"budget"})
    if unknown:
        raise UsageError(f"{path}: unknown top-level key {unknown[0]!r} (expected [[budget]] tables)")
    entries = data.get("budget")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: no [[budget]] entries")
    budgets = [_entry(path, i, raw) for i, raw in enumerate(entries, start=1)]
    _no_duplicates(path, budgets)
    return budgets


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: budgets file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read budgets file: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def _no_duplicates(path: Path, budgets: list[Budget]) -> None:
    seen: set[str] = set()
    for budget in budgets:
        if budget.name in seen:
            raise UsageError(f"{path}: budget {budget.name!r}: key 'name': the name is used twice")
        seen.add(budget.name)


def _entry(path: Path, index: int, raw: Any) -> Budget:
    where = _Where(path, f"#{index}")
    if not isinstance(raw, dict):
        raise where.fail("budget", "each [[budget]] must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise where.fail("name", "every entry needs a non-empty name")
    where = _Where(path, repr(name))
    unknown = sorted(set(raw) - ENTRY_KEYS)
    if unknown:
        raise where.fail(unknown[0], f"unknown key (known: {', '.join(sorted(ENTRY_KEYS))})")
    budget = Budget(
        name=name,
        run=_run(where, raw),
        peak=_optional(where, raw, "peak", parse_bytes),
        flops=_optional(where, raw, "flops", parse_flops),
        footprint=_optional(where, raw, "footprint", parse_bytes),
        stages={},

        growth=_growth(where, raw.get("growth", DEFAULT_GROWTH)),
    )
    budget = replace(budget, stages=_stages(where, raw.get("stages", {}), budget.run))
    if not budget.limits():
        raise where.fail("peak", "the entry sets no limit (peak, footprint, flops or [budget.stages])")
    return budget


def _optional(where: _Where, raw: dict[str, Any], key: str, parse: Any) -> int | None:
    if key not in raw:
        return None
    return _value(where, key, raw[key], parse)


def _value(where: _Where, key: str, value: Any, parse: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise where.fail(key, f"{shown(value)} is not a size string or a whole number")
    try:
        result: int = parse(value)
    except UsageError as exc:
        raise where.fail(key, str(exc)) from None
    return result


def _stages(where: _Where, raw: Any, run: RunConfig) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise where.fail("stages", "must be a table of stage = size")
    out = {}
    known = resolve(run).stages if raw else ()
    for stage, value in raw.items():
        if stage not in known:
            raise where.fail(f"stages.{stage}", f"unknown stage (known: {', '.join(known)})")
        out[stage] = _value(where, f"stages.{stage}", value, parse_bytes)
    return out


def _growth(where: _Where, raw: Any) -> float:
    m = _GROWTH.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if m is None:
        raise where.fail("growth", f"{shown(raw)} is not a tolerance such as \"+2%\"")
    try:
        percent = decimal(m.group(1), "growth")
    except UsageError:
        raise where.fail("growth", f"{shown(raw)} is not a tolerance such as \"+2%\"") from None
    if percent > MAX_GROWTH:
        raise where.fail("growth", f"{shown(raw)} is more than {MAX_GROWTH}%")
    return float(percent) / 100


def _positive(where: _Where, raw: dict[str, Any], key: str, default: int, high: int = INT64_MAX) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.fail(key, f"{shown(value)} is not a positive whole number")
    try:
        return whole_number(value, key, 1, high)
    except UsageError as exc:
        raise where.fail(key, str(exc)) from None


def _choice(where: _Where, raw: dict[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise where.fail(key, f"{shown(value)} is not one of {', '.join(choices)}")
    return str(value)


def _res(where: _Where, raw: dict[str, Any]) -> tuple[int, int]:
    value = raw.get("res", "240x432")
    if not isinstance(value, str):
        raise where.fail("res", f"{shown(value)} is not HEIGHTxWIDTH (for example \"240x432\")")
    try:
        return parse_res(value, "res")
    except UsageError as exc:
        raise where.fail("res", str(exc)) from None


def _text(where: _Where, raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise where.fail(key, f"{shown(value)} is not a non-empty string")
    return value


def _near(where: _Where, text: str) -> str:
    """A path in the file, relative to the budgets file's directory."""
    path = Path(text)
    return str(path if path.is_absolute() else where.path.parent / path)


def _model(where: _Where, raw: dict[str, Any]) -> dict[str, Any]:
    """The model keys: model, model_args (a table), model_path (a list of directories), stage_map, and
    DSTT's shorthands attention, hidden, channel, blocks."""
    model = _text(where, raw, "model") or DEFAULT_MODEL
    if model.partition(":")[0].endswith(".py"):
        target, _, name = model.rpartition(":")
        model = f"{_near(where, target)}:{name}"
    args = raw.get("model_args", {})
    if not isinstance(args, dict):
        raise where.fail("model_args", "must be a table of name = value")
    paths = raw.get("model_path", [])
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise where.fail("model_path", f"{shown(paths)} is not a list of directories")
    stage_map = _text(where, raw, "stage_map")
    given: dict[str, Any] = {}
    if "attention" in raw:
        given["attention"] = _choice(where, raw, "attention", "matmul", ATTENTION_BACKENDS)
    for key in SIZE_KEYS:
        if key in raw:
            given[key] = _positive(where, raw, key, 1)
    clash = sorted(set(given) & set(args))
    if clash:
        raise where.fail(clash[0], "set both as a key and in model_args: give one")
    fields: dict[str, Any] = dict(
        model=model,
        model_args={**args, **given},
        model_path=tuple(_near(where, p) for p in paths),
        stages=_near(where, stage_map) if stage_map else None,
    )
    try:
        refuse_shorthands(RunConfig(frames=1, **{**fields, "model_args": args}), given)
    except UsageError as exc:
        raise where.fail(next(iter(given)) if given else "model", str(exc)) from None
    return fields


def _run(where: _Where, raw: dict[str, Any]) -> RunConfig:
    if "frames" not in raw:
        raise where.fail("frames", "every entry needs frames (the clip length t)")
    frames = _positive(where, raw, "frames", 1, MAX_FRAMES)
    batch = _positive(where, raw, "batch", 1)
    dtype = _choice(where, raw, "dtype", "float32", tuple(DTYPES))
    mode = _choice(where, raw, "mode", "inference", MODES)
    memory = _choice(where, raw, "memory", MEMORY_VIEWS[0], MEMORY_VIEWS)
    optimizer = _choice(where, raw, "optimizer", OPTIMIZERS[0], OPTIMIZERS)
    threads = _positive(where, raw, "threads", 1, MAX_THREADS) if "threads" in raw else 0
    height, width = _res(where, raw)
    model: dict[str, Any] = _model(where, raw)
    try:
        return build_run(
            frames,
            (height, width),
            batch=batch,
            dtype=dtype,
            mode=mode,
            memory=memory,
            optimizer=optimizer,
            threads=threads,
            **model,
        )
    except UsageError as exc:
        # The fields were checked one by one above; what is left is the model's rules on the sizes.
        text = str(exc)
        key = next((k for k in ("frames", *SIZE_KEYS) if k in text), "res" if model["model"] == DEFAULT_MODEL else "model")
        raise where.fail(key, str(exc)) from None
