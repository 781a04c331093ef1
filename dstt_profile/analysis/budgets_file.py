"""Reading a budgets file (TOML): one `[[budget]]` table per configuration, with its limits.

Every problem is a `UsageError` with one line naming the file, the entry and the key, for example
`budgets.toml: budget "inference, 14 frames": key 'peak': size '1.5 GB/s' has an unknown unit ...`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dstt_profile.errors import UsageError
from dstt_profile.numbers import decimal, shown, whole_number
from dstt_profile.profiles.dstt.stages import STAGES
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.runoptions import (
    CHOICES,
    RUN_OPTIONS,
    WHOLE_OPTIONS,
    FieldError,
    build_run,
    highest,
)
from dstt_profile.units import parse_bytes, parse_flops

DEFAULT_GROWTH = "+2%"
# An entry's own keys, and the run options (frames, res, batch, dtype, ...: the command line's, by name).
ENTRY_KEYS = frozenset({"name", "peak", "footprint", "flops", "stages", "growth", *RUN_OPTIONS})
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
        stages=_stages(where, raw.get("stages", {})),
        growth=_growth(where, raw.get("growth", DEFAULT_GROWTH)),
    )
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


def _stages(where: _Where, raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise where.fail("stages", "must be a table of stage = size")
    out = {}
    for stage, value in raw.items():
        if stage not in STAGES:
            raise where.fail(f"stages.{stage}", f"unknown stage (known: {', '.join(STAGES)})")
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


def _positive(where: _Where, key: str, value: Any) -> int:
    """A TOML integer of at least 1 (no text, no float, no boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.fail(key, f"{shown(value)} is not a positive whole number")
    try:
        return whole_number(value, key, 1, highest(key))
    except UsageError as exc:
        raise where.fail(key, str(exc)) from None


def _run(where: _Where, raw: dict[str, Any]) -> RunConfig:
    """The entry's run: its run options (the command line's, by the same names), each of its TOML
    type, through the one builder; each problem reported against its key."""
    if "frames" not in raw:
        raise where.fail("frames", "every entry needs frames (the clip length t)")
    values = {key: raw[key] for key in RUN_OPTIONS if key in raw}
    for key, value in values.items():
        if key in WHOLE_OPTIONS:
            _positive(where, key, value)
        elif key in CHOICES and value not in CHOICES[key]:
            raise where.fail(key, f"{shown(value)} is not one of {', '.join(CHOICES[key])}")
    try:
        return build_run(values)
    except FieldError as exc:
        raise where.fail(exc.option, str(exc)) from None
