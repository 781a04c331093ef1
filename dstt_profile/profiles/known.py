"""Built-in profiles of released video-inpainting networks other than DSTT, each recognised from its module
names (as DSTT's is): the first whose `detect` accepts a built model gives its profile."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dstt_profile.engine.subject import Subject
from dstt_profile.profiles import e2fgvi, fuseformer, propainter, sttn
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.records.runconfig import RunConfig

SubjectFor = Callable[[RunConfig, Callable[[str], str | None], str], Subject]
# (title, subject_for, probe) -> the profile, or None where the probe is not that network
Detector = Callable[[str, SubjectFor, nn.Module], ModelProfile | None]

DETECTORS: tuple[Detector, ...] = (sttn.detect, fuseformer.detect, e2fgvi.detect, propainter.detect)


def detected(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The first built-in profile that recognises `probe`, or None."""
    for detect in DETECTORS:
        if (profile := detect(title, subject_for, probe)) is not None:
            return profile
    return None
