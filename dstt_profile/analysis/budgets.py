"""Memory and FLOP budgets: every budget entry run with fake tensors and compared with its limits and
its baseline (`dstt-profile check BUDGETS.toml`: cli/check.py).

A metric fails when it is over its budget or grew past its baseline tolerance. The file format is in
budgets_file.py and docs/budgets.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dstt_profile.analysis.budgets_file import Budget
from dstt_profile.analysis.footprint import of_record
from dstt_profile.errors import UsageError
from dstt_profile.records.schema import RunRecord, config_json
from dstt_profile.units import fmt_bytes, fmt_count
from dstt_profile.values import shown, whole_number

BASELINE_SCHEMA = "dstt-profile-baseline/1"
RESULT_SCHEMA = "dstt-profile-check/1"


@dataclass(frozen=True)
class Metric:
    """One figure of one entry against its budget and baseline (None where there is none)."""

    entry: str
    metric: str  # 'peak', 'footprint', 'flops' or 'stages.<stage>'
    actual: int
    budget: int | None = None
    baseline: int | None = None
    growth: float = 0.02

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.actual > self.budget

    @property
    def grew(self) -> bool:
        if self.baseline is None:
            return False
        return self.actual > self.baseline * (1 + self.growth)

    @property
    def passed(self) -> bool:
        return not (self.over_budget or self.grew)

    def fmt(self, value: int | None) -> str:
        if value is None:
            return "-"
        return fmt_count(value, "FLOP") if self.metric == "flops" else fmt_bytes(value)

    def headroom(self) -> str:
        """'12.3% headroom' under the budget, or 'overrun +4.5%' over it."""
        if self.budget is None:
            return "-"
        if self.budget == 0:
            return "overrun" if self.actual > 0 else "0.0% headroom"
        change = (self.actual - self.budget) / self.budget * 100
        return f"overrun +{change:.1f}%" if self.over_budget else f"{-change:.1f}% headroom"

    def change(self) -> str:
        """Growth against the baseline, '+0.0%' when unchanged."""
        if self.baseline is None:
            return "-"
        if self.baseline == 0:
            return "+0.0%" if self.actual == 0 else "new"
        return f"{(self.actual - self.baseline) / self.baseline * 100:+.1f}%"

    def problem(self) -> str:
        """One sentence for a failing metric ('' when it passes)."""
        parts = []
        if self.over_budget:
            parts.append(
                f"{self.metric} {self.fmt(self.actual)} ({self.actual:,}) is over its budget "
                f"{self.fmt(self.budget)} ({self.budget:,}): {self.headroom()}"
            )
        if self.grew:
            parts.append(
                f"{self.metric} grew {self.change()} over the baseline {self.fmt(self.baseline)} "
                f"({self.baseline:,}), tolerance +{self.growth * 100:g}%"
            )
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "over_budget": self.over_budget,
            "grew": self.grew,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class EntryResult:
    budget: Budget
    record: RunRecord
    metrics: tuple[Metric, ...]

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.metrics)

    def failures(self) -> list[Metric]:
        return [m for m in self.metrics if not m.passed]


def actual_figures(record: RunRecord) -> dict[str, int]:
    """Every figure a budget or baseline can hold: peak (activations), footprint, flops and each stage's
    headline bytes."""
    figures = {"peak": record.peak_view.bytes, "footprint": of_record(record).total, "flops": record.flops.total}
    figures.update({f"stages.{name}": stage.bytes for name, stage in record.stages.items()})
    return figures


def evaluate(budget: Budget, record: RunRecord, baseline: dict[str, int] | None) -> EntryResult:
    """Compare one run with its entry's limits and (when given) its baseline figures."""
    figures = actual_figures(record)
    limits = budget.limits()
    baseline = baseline or {}
    names = list(limits) + [name for name in baseline if name not in limits and name in figures]
    missing = [name for name in limits if name not in figures]
    if missing:
        raise UsageError(f"budget {budget.name!r}: key {missing[0]!r}: the run has no such figure")
    metrics = tuple(
        Metric(budget.name, name, figures[name], limits.get(name), baseline.get(name), budget.growth)
        for name in names
    )
    return EntryResult(budget, record, metrics)


def run_budget(budget: Budget) -> RunRecord:
    from dstt_profile.api import profile_run

    return profile_run(budget.run, keep_ops=False)


# Baseline files --------------------------------------------------------------------------------------


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
    """One entry's figures: names to whole numbers (JSON integers, not 1.9, "12" or true)."""
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
    entries = {r.budget.name: actual_figures(r.record) for r in results}
    return json.dumps({"schema": BASELINE_SCHEMA, "entries": entries}, indent=1) + "\n"


# Output ----------------------------------------------------------------------------------------------


def render_table(results: Sequence[EntryResult]) -> str:
    header = ["entry", "metric", "budget", "actual", "headroom", "vs baseline", "status"]
    rows = [
        [m.entry, m.metric, m.fmt(m.budget), m.fmt(m.actual), m.headroom(), m.change(), _status(m)]
        for r in results
        for m in r.metrics
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    views = sorted({r.record.memory for r in results})
    lines.append("peak: " + "; ".join(PEAK_VIEWS[v] for v in views))
    if any(m.metric == "footprint" for r in results for m in r.metrics):
        lines.append(f"footprint: {FOOTPRINT}")
    return "\n".join(lines)


FOOTPRINT = (
    "the whole memory the pass needs: weights + input + the allocator peak (+ optimizer state in train mode, "
    "+ the assumed CUDA context on cuda)"
)
PEAK_VIEWS = {
    "allocator": "the allocator peak above weights and input (storages at real size, workspaces included)",
    "tensors": "the tensor peak of entries with memory = \"tensors\" (live tensors only)",
}


def _status(metric: Metric) -> str:
    if metric.over_budget:
        return "OVER BUDGET"
    if metric.grew:
        return "GREW"
    return "ok"


def summary(results: Sequence[EntryResult]) -> str:
    failed = [r for r in results if not r.passed]
    if not failed:
        return f"all {len(results)} budget entries hold"
    lines = [f"{len(failed)} of {len(results)} budget entries failed:"]
    lines += [f"  {m.entry}: {m.problem()}" for r in failed for m in r.failures()]
    return "\n".join(lines)


def result_json(results: Sequence[EntryResult]) -> str:
    data = {
        "schema": RESULT_SCHEMA,
        "passed": all(r.passed for r in results),
        "entries": [
            {
                "name": r.budget.name,
                "config": config_json(r.budget.run.to_dict()),
                "passed": r.passed,
                "metrics": [m.to_dict() for m in r.metrics],
            }
            for r in results
        ],
    }
    return json.dumps(data, indent=1) + "\n"
