"""The `Report` every renderer takes: a result and what its renderers show, computed once (analysis/report.py),
with pandas views for notebooks (pandas imported on first use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dstt_profile.records.laws import Laws
from dstt_profile.records.schema import Result, RunRecord, ScalingRecord

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Report:
    result: Result
    scaling: ScalingRecord
    laws: Laws

    @property
    def runs(self) -> tuple[RunRecord, ...]:
        return self.result.runs

    @property
    def run(self) -> RunRecord:
        return self.result.runs[0]

    @property
    def detail(self) -> RunRecord:
        return detail_run(self.runs)

    @property
    def stages(self) -> pd.DataFrame:
        return stages_frame(self.runs)

    @property
    def modules(self) -> pd.DataFrame:
        return _frame([
            {"t": r.frames, "module": m.name or "<root>", "type": m.type, "stage": m.stage, "depth": m.depth,
             "params": m.params, "output_shape": tuple(m.outputs[0].shape) if m.outputs else (), "flops": m.flops,
             "other_flops": m.other_flops, "alloc_bytes": m.alloc_bytes}
            for r in self.runs for m in r.modules
        ])

    @property
    def ops(self) -> pd.DataFrame:
        return _frame([
            {"t": r.frames, "index": o.index, "op": o.op, "module": o.module, "stage": o.stage,
             "shape": tuple(o.outputs[0].shape) if o.outputs else (), "alloc_bytes": o.alloc_bytes,
             "freed_bytes": o.freed_bytes, "live_bytes": o.live_bytes, "flops": o.flops, "other_flops": o.other_flops}
            for r in self.runs for o in r.ops
        ])

    @property
    def timeline(self) -> pd.DataFrame:
        ops = self.ops
        return ops[["t", "index", "op", "stage", "live_bytes"]] if len(ops) else ops

    @property
    def checks(self) -> pd.DataFrame:
        return _frame([
            {"t": r.frames, "check": c.name, "formula": c.formula, "substituted": c.formula_substituted,
             "expected": c.expected, "measured": c.measured, "unit": c.unit, "pass": c.passed}
            for r in self.runs for c in r.checks
        ])

    def to_json(self, indent: int | None = 1) -> str:
        return self.result.to_json(indent=indent)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows)


def detail_run(runs: tuple[RunRecord, ...]) -> RunRecord:
    """The run the timeline and the layer graph show: the largest t that kept its per-op records."""
    return max([r for r in runs if r.ops] or runs, key=lambda r: r.frames)


def stages_frame(runs: tuple[RunRecord, ...]) -> pd.DataFrame:  # one row per run x stage
    return _frame([
        {"t": r.frames, "res": r.config.res, "dtype": r.config.dtype,
         "attention": r.arg("attention"), "stage": s.name, "shape": tuple(s.shape), "elements": s.elements,
         "bytes": s.bytes, "flops": s.flops, "other_flops": s.other_flops, "instances": s.instances,
         "share": s.share, "formula": s.formula_substituted, "formula_elements": s.formula_elements,
         "match": s.match, "peak_bytes": r.peak_view.bytes, "peak_view": r.memory,
         "tensor_peak_bytes": r.tensor_peak.bytes}
        for r in runs for s in r.stages.values()
    ])
