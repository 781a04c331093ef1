"""File names of results: the stem every output of one result shares."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result


def stem_for(runs: Sequence[RunConfig]) -> str:
    """The file-name stem of a result holding `runs`: dstt_t14_240x432_float32, dstt_t1-32_..."""
    first = runs[0]
    if len(runs) == 1:
        return first.slug()
    frames = [r.frames for r in runs]
    return first.slug().replace(f"_t{first.frames}_", f"_t{min(frames)}-{max(frames)}_", 1)


def result_stem(result: Result) -> str:
    """The stem of a saved or new result's files, from the configurations its runs record."""
    return stem_for([RunConfig(**r.config) for r in result.runs])
