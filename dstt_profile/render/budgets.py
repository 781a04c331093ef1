"""A budget check as text (the table and the summary), as JSON (`check --json`) and one-sentence problems."""

from __future__ import annotations

import json
from collections.abc import Sequence

from dstt_profile.records.budgets import EntryResult, Metric
from dstt_profile.records.schema import config_json
from dstt_profile.render.table import table
from dstt_profile.units import fmt_bytes, fmt_count

RESULT_SCHEMA = "dstt-profile-check/1"
FOOTPRINT = ("the whole memory the pass needs: weights + input + the allocator peak (+ optimizer state in "
             "train mode, + the assumed CUDA context on cuda)")
PEAK_VIEWS = {
    "allocator": "the allocator peak above weights and input (storages at real size, workspaces included)",
    "tensors": "the tensor peak of entries with memory = \"tensors\" (live tensors only)",
}


def fmt(m: Metric, value: int | None) -> str:
    return "-" if value is None else fmt_count(value, "FLOP") if m.metric == "flops" else fmt_bytes(value)


def headroom(metric: Metric) -> str:
    """'12.3% headroom' under the budget, or 'overrun +4.5%' over it."""
    if metric.budget is None:
        return "-"
    if metric.budget == 0:
        return "overrun" if metric.actual > 0 else "0.0% headroom"
    change = (metric.actual - metric.budget) / metric.budget * 100
    return f"overrun +{change:.1f}%" if metric.over_budget else f"{-change:.1f}% headroom"


def change(metric: Metric) -> str:
    """Growth against the baseline, '+0.0%' when unchanged."""
    if metric.baseline is None:
        return "-"
    if metric.baseline == 0:
        return "+0.0%" if metric.actual == 0 else "new"
    return f"{(metric.actual - metric.baseline) / metric.baseline * 100:+.1f}%"


def problem(m: Metric) -> str:
    """One sentence for a failing metric ('' when it passes)."""
    parts = []
    if m.over_budget:
        parts.append(f"{m.metric} {fmt(m, m.actual)} ({m.actual:,}) is over its budget {fmt(m, m.budget)} ({m.budget:,}): "
                     f"{headroom(m)}")
    if m.grew:
        parts.append(f"{m.metric} grew {change(m)} over the baseline {fmt(m, m.baseline)} ({m.baseline:,}), tolerance "
                     f"+{m.growth * 100:g}%")
    return "; ".join(parts)


def render_table(results: Sequence[EntryResult]) -> str:
    header = ["entry", "metric", "budget", "actual", "headroom", "vs baseline", "status"]
    rows = [[m.entry, m.metric, fmt(m, m.budget), fmt(m, m.actual), headroom(m), change(m),
             "OVER BUDGET" if m.over_budget else "GREW" if m.grew else "ok"]
            for r in results for m in r.metrics]
    lines = [*table(header, rows), "peak: " + "; ".join(PEAK_VIEWS[v] for v in sorted({r.record.memory for r in results}))]
    if any(m.metric == "footprint" for r in results for m in r.metrics):
        lines.append(f"footprint: {FOOTPRINT}")
    return "\n".join(lines)


def summary(results: Sequence[EntryResult]) -> str:
    failed = [r for r in results if not r.passed]
    if not failed:
        return f"all {len(results)} budget entries hold"
    return "\n".join([f"{len(failed)} of {len(results)} budget entries failed:",
                      *(f"  {m.entry}: {problem(m)}" for r in failed for m in r.failures())])


def result_json(results: Sequence[EntryResult]) -> str:
    entries = [{"name": r.name, "config": config_json(r.run.to_dict()), "passed": r.passed,
                "metrics": [m.to_dict() for m in r.metrics]} for r in results]
    return json.dumps({"schema": RESULT_SCHEMA, "passed": all(r.passed for r in results), "entries": entries}, indent=1) + "\n"
