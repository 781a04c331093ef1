"""The answer of `fit`'s search: the largest t within a memory budget, and the figures either side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dstt_profile.records.runconfig import RunConfig


@dataclass(frozen=True)
class FitAnswer:
    max_frames: int  # 0 when even t = 1 does not fit
    peak_bytes: int  # the activation peak (run's memory view) at max_frames (0 when max_frames is 0)
    next_peak_bytes: int | None  # at max_frames + 1; None when max_frames is the largest t accepted
    budget_bytes: int
    runs: int  # traces the search made (the other probed t were derived from them)
    peak_stage: str = ""  # stage holding the peak at max_frames
    gate: str = "footprint"  # what was held to the budget: footprint or peak
    footprint_bytes: int = 0  # at max_frames (0 when max_frames is 0)
    next_footprint_bytes: int | None = None  # at max_frames + 1
    run: RunConfig | None = None  # the configuration searched (its frames: max_frames, at least 1)
    derived: int = 0  # probed t derived from traces, not traced

    @property
    def limit_reached(self) -> bool:  # the search stopped at the largest t accepted, not at the budget
        return self.next_peak_bytes is None

    @property
    def gated_bytes(self) -> int:
        return self.footprint_bytes if self.gate == "footprint" else self.peak_bytes

    def to_dict(self) -> dict[str, Any]:
        keys = ("max_frames", "peak_bytes", "next_peak_bytes", "budget_bytes", "gate", "footprint_bytes",
                "next_footprint_bytes")  # next_*: null at the limit
        return {k: getattr(self, k) for k in keys}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
