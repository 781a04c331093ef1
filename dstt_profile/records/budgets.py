"""A budget check's outcome: each figure of each entry against its budget and its baseline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import RunRecord


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
        return self.baseline is not None and self.actual > self.baseline * (1 + self.growth)

    @property
    def passed(self) -> bool:
        return not (self.over_budget or self.grew)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "over_budget": self.over_budget, "grew": self.grew, "passed": self.passed}


@dataclass(frozen=True)
class EntryResult:
    name: str
    run: RunConfig
    record: RunRecord
    metrics: tuple[Metric, ...]

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.metrics)

    def failures(self) -> list[Metric]:
        return [m for m in self.metrics if not m.passed]
