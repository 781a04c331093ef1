"""Memory and FLOP budgets (`dstt-profile check BUDGETS.toml`, docs/budgets.md): each entry's record against
its limits and its baseline; a metric fails when over its budget or grown past its baseline tolerance."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dstt_profile.analysis.budgets_file import Budget
from dstt_profile.errors import UsageError
from dstt_profile.records.budgets import EntryResult, Metric
from dstt_profile.records.schema import RunRecord
from dstt_profile.values import shown, whole_number

BASELINE_SCHEMA = "dstt-profile-baseline/1"


def actual_figures(record: RunRecord) -> dict[str, int]:
    """Every figure a budget or baseline can hold: peak, footprint, flops, `stages.<stage>` headline bytes."""
    figures = {"peak": record.peak_view.bytes, "footprint": record.footprint.total, "flops": record.flops.total}
    figures.update({f"stages.{name}": stage.bytes for name, stage in record.stages.items()})
    return figures


def evaluate(budget: Budget, record: RunRecord, baseline: dict[str, int] | None) -> EntryResult:
    figures, limits, baseline = actual_figures(record), budget.limits(), baseline or {}
    names = list(limits) + [name for name in baseline if name not in limits and name in figures]
    missing = [name for name in limits if name not in figures]
    if missing:
        raise UsageError(f"budget {budget.name!r}: key {missing[0]!r}: the run has no such figure")
    metrics = tuple(Metric(budget.name, name, figures[name], limits.get(name), baseline.get(name), budget.growth)
                    for name in names)
    return EntryResult(budget.name, budget.run, record, metrics)


def default_baseline_path(budgets_path: Path) -> Path:
    """budgets.toml -> budgets.baseline.json, beside it."""
    return budgets_path.with_suffix(".baseline.json")


def read_baseline(path: Path) -> dict[str, dict[str, int]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: baseline file not found (create it with --update)") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read baseline: {exc}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or data.get("schema") != BASELINE_SCHEMA:
        raise UsageError(f"{path}: not a {BASELINE_SCHEMA} baseline file")
    return {name: _baseline_figures(path, name, figs) for name, figs in entries.items()}


def _baseline_figures(path: Path, name: str, figures: Any) -> dict[str, int]:
    """One entry's figures: names to JSON integers (not 1.9, "12" or true)."""
    if not isinstance(figures, dict):
        raise UsageError(f"{path}: baseline entry {name!r} must map figure names to whole numbers")
    out = {}
    for key, value in figures.items():
        what = f"{path}: baseline entry {name!r}: figure {key!r}"
        if isinstance(value, str):
            raise UsageError(f"{what} {shown(value)} is not a whole number (baseline entries must map figure "
                             "names to whole numbers)")
        out[key] = whole_number(value, what)
    return out


def baseline_json(results: Sequence[EntryResult]) -> str:
    entries = {r.name: actual_figures(r.record) for r in results}
    return json.dumps({"schema": BASELINE_SCHEMA, "entries": entries}, indent=1) + "\n"


