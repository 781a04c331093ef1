"""Stage colours for plots, the layer graph and the report's swatches, from a run's `ProfileRecord`."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import cycle

from dstt_profile.records.schema import BACKWARD, ProfileRecord

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac")
BACKWARD_COLOUR = "#555555"
OTHER_COLOUR = "#cccccc"


def stage_colours(profile: ProfileRecord) -> dict[str, str]:
    """Stage -> colour: the profile's own, else the palette's next in stage order; `backward` grey."""
    free = cycle(PALETTE)
    out = {stage: profile.colours.get(stage) or next(free) for stage in profile.stages}
    out.update(profile.colours)
    out.setdefault(BACKWARD, BACKWARD_COLOUR)
    return out


def colour_of(colours: Mapping[str, str], stage: str) -> str:
    """`stage`'s colour in `colours` (stage_colours), light grey where it has none."""
    return colours.get(stage, OTHER_COLOUR)
