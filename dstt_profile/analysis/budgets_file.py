"""Reading a budgets file (TOML, docs/budgets.md): one `[[budget]]` table per configuration, its run keys
handed to runs.build_run; every problem is a one-line `UsageError` naming the file, the entry and the key."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.fileio import read_toml
from dstt_profile.profiles.dstt.args import SHORTHAND_NAMES
from dstt_profile.profiles.registry import resolve
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.runs import build_run
from dstt_profile.units import parse_bytes, parse_flops
from dstt_profile.values import decimal, shown

DEFAULT_GROWTH = "+2%"
# Keys handed to build_run as RunConfig fields; `res`, `model_path`, `stage_map` and `inputs` are read apart.
RUN_KEYS = ("batch", "dtype", "mode", "memory", "optimizer", "threads", "model", "model_args")
LIMIT_KEYS = ("peak", "footprint", "flops")
ENTRY_KEYS = frozenset({"name", "frames", "res", "stages", "growth", "model_path", "stage_map", "inputs",
                        *RUN_KEYS, *LIMIT_KEYS, *SHORTHAND_NAMES})
# RunConfig's field (UsageError.field, before any '.') -> the key that sets it
FIELD_KEYS = {"height": "res", "width": "res", "stages": "stage_map"}
_GROWTH = re.compile(r"\+?\s*([0-9.]+)\s*%", re.ASCII)
MAX_GROWTH = 1000  # percent


@dataclass(frozen=True)
class Budget:
    name: str
    run: RunConfig
    peak: int | None = None
    flops: int | None = None
    footprint: int | None = None
    stages: dict[str, int] = field(default_factory=dict)
    growth: float = 0.02  # fraction a metric may grow over its baseline

    def limits(self) -> dict[str, int]:
        return {**{key: getattr(self, key) for key in LIMIT_KEYS if getattr(self, key) is not None},
                **{f"stages.{name}": value for name, value in self.stages.items()}}


@dataclass(frozen=True)
class _Where:
    path: Path
    entry: str

    def fail(self, key: str, message: str) -> UsageError:
        return UsageError(f"{self.path}: budget {self.entry}: key {key!r}: {message}", key)


def load_budgets(path: Path) -> list[Budget]:
    data = read_toml(path, str(path), "budgets file not found", "cannot read budgets file: {exc}", "not valid TOML: {exc}")
    unknown = sorted(set(data) - {"budget"})
    if unknown:
        raise UsageError(f"{path}: unknown top-level key {unknown[0]!r} (expected [[budget]] tables)")
    entries = data.get("budget")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: no [[budget]] entries")
    budgets = [_entry(path, i, raw) for i, raw in enumerate(entries, start=1)]
    names = [budget.name for budget in budgets]
    if twice := next((name for i, name in enumerate(names) if name in names[:i]), None):
        raise UsageError(f"{path}: budget {twice!r}: key 'name': the name is used twice")
    return budgets


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
    run = _run(where, raw)
    limits = {key: _value(where, key, raw[key], parse_bytes if key != "flops" else parse_flops)
              for key in LIMIT_KEYS if key in raw}
    budget = Budget(name, run, **limits, stages=_stages(where, raw.get("stages", {}), run),
                    growth=_growth(where, raw.get("growth", DEFAULT_GROWTH)))
    if not budget.limits():
        raise where.fail("peak", "the entry sets no limit (peak, footprint, flops or [budget.stages])")
    return budget


def _value(where: _Where, key: str, value: Any, parse: Callable[[str | int], int]) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise where.fail(key, f"{shown(value)} is not a size string or a whole number")
    try:
        return parse(value)
    except UsageError as exc:
        raise where.fail(key, str(exc)) from None


def _stages(where: _Where, raw: Any, run: RunConfig) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise where.fail("stages", "must be a table of stage = size")
    known = resolve(run).stages if raw else ()
    for stage in raw:
        if stage not in known:
            raise where.fail(f"stages.{stage}", f"unknown stage (known: {', '.join(known)})")
    return {stage: _value(where, f"stages.{stage}", value, parse_bytes) for stage, value in raw.items()}


def _growth(where: _Where, raw: Any) -> float:
    m = _GROWTH.fullmatch(raw.strip()) if isinstance(raw, str) else None
    try:
        percent = decimal(m.group(1), "growth") if m is not None else None
    except UsageError:
        percent = None
    if percent is None:
        raise where.fail("growth", f"{shown(raw)} is not a tolerance such as \"+2%\"")
    if percent > MAX_GROWTH:
        raise where.fail("growth", f"{shown(raw)} is more than {MAX_GROWTH}%")
    return float(percent) / 100


def _near(where: _Where, value: Any) -> Any:
    """A path in the file, relative to the budgets file's directory (a value that is no path: as it is)."""
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    return str(where.path.parent / value)


def _run(where: _Where, raw: dict[str, Any]) -> RunConfig:
    if "frames" not in raw:
        raise where.fail("frames", "every entry needs frames (the clip length t)")
    fields = {key: raw[key] for key in RUN_KEYS if key in raw}
    for key in ("model", "inputs"):  # FILE.py:NAME, the file relative to the budgets file
        value = raw.get(key)
        if isinstance(value, str) and value.rpartition(":")[0].endswith(".py"):
            target, _, name = value.rpartition(":")
            fields[key] = f"{_near(where, target)}:{name}"
        elif key in raw:
            fields[key] = value
    if "model_path" in raw:
        paths = raw["model_path"]
        fields["model_path"] = [_near(where, p) for p in paths] if isinstance(paths, list) else _near(where, paths)
    if "stage_map" in raw:
        fields["stages"] = _near(where, raw["stage_map"])
    shorthands = {key: raw[key] for key in SHORTHAND_NAMES if key in raw}
    try:
        return build_run(raw["frames"], raw.get("res", "240x432"), shorthands=shorthands, **fields)
    except UsageError as exc:
        top, _, arg = exc.field.partition(".")
        key = arg if arg in shorthands else FIELD_KEYS.get(top, top) or "model"
        raise where.fail(key, str(exc)) from None
