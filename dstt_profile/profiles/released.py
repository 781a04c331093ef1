"""How a built-in profile of a released video-inpainting transformer (profiles/known.py) is put together: the
release's fixed parts (`Release`: stages, stage map, headlines, its attention stage's words) made a profile
once its sizes are read off the probe (`read`, `Release.profile`); the module-name check (`has_layers`); and the
headlines the releases share (encoder, soft split and composition, decoder, the root's tanh)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from torch import nn

from dstt_profile.engine.subject import Subject
from dstt_profile.profiles.attention import has_modules
from dstt_profile.profiles.base import Formulas, Headline, ModelProfile
from dstt_profile.records.runconfig import RunConfig

__all__ = ["DECODER", "ENCODER", "READ_ERRORS", "SOFT_COMPOSITION", "SOFT_SPLIT", "TANH", "Release", "SubjectFor",
           "has_layers", "matrix_headline", "read", "root_output", "tail_subject"]

Z = TypeVar("Z")
# (run, stage_of, first stage) -> the Subject of a loaded module: what a detector is given (profiles/known.py)
SubjectFor = Callable[[RunConfig, Callable[[str], str | None], str], Subject]

# What reading the sizes raises of a module with a release's names whose layers are not the release's (a fork).
READ_ERRORS: tuple[type[Exception], ...] = (ValueError, AttributeError, TypeError, StopIteration)

ENCODER = Headline(r"encoder", 0, "encoder output")
SOFT_SPLIT = Headline(r"ss", 0, "soft split output: the clip's tokens entering the transformer")
SOFT_COMPOSITION = Headline(r"sc\.embedding", 0, "soft composition embedding output, before Fold")
DECODER = Headline(r"decoder", 0, "decoder output")
TANH = Headline(r"", 0, "tanh output")


def matrix_headline(module: str, what: str) -> Headline:
    """An attention stage's headline: output 1 (the softmaxed matrix, the shape of the q.k^T product) of the
    attention kernel module `module`; where a fused kernel gives None there, the largest tensor one name
    part up (the attention block) stands in."""
    return Headline(module, 1, what, scope_up=1)


def has_layers(module: nn.Module, names: Iterable[str], kinds: Mapping[str, type[nn.Module]]) -> bool:
    """True when `module` has a submodule of every dotted name in `names`, and those named in `kinds` (names of
    `names`) are of the type given."""
    return has_modules(module, names) and all(isinstance(module.get_submodule(n), kind) for n, kind in kinds.items())


def read(sizes_of: Callable[[nn.Module], Z], probe: nn.Module,
         errors: tuple[type[Exception], ...] = READ_ERRORS) -> Z | None:
    """`sizes_of(probe)`, or None where it raises one of `errors` (the probe is not the release after all)."""
    try:
        return sizes_of(probe)
    except errors:
        return None


def root_output(stage_of: Callable[[str], str | None], stage: str = "output") -> Callable[[str], str | None]:
    """A profile's `stage_of` for a network that applies its last op (tanh) in the root's own forward: the root
    module is `stage`, so that the stage's headline is the root's output; its ops are staged by `tail_subject`."""
    return lambda module: stage if module == "" else stage_of(module)


def tail_subject(subject: Subject, stage: str = "output") -> Subject:
    """`subject` with the ops the root runs itself after its last submodule returned (the release's tanh) in
    `stage`; the root's other own ops (views, a mask resize, a skip add) belong to the running stage."""
    return replace(subject, tail_stage=stage)


@dataclass(frozen=True)
class Release:
    """What a release's profile is whatever sizes its module holds: `name`, `label` (the release as its note
    names it), stages in network order (the last, `output`, the root's tanh), the stage map of its module names,
    each stage's headline, and the words for its attention stage, the quadratic one of every release."""

    name: str
    label: str
    stages: tuple[str, ...]
    stage_of: Callable[[str], str | None]
    headlines: Mapping[str, Headline]
    quadratic_words: str
    quadratic_headline: str

    def profile(self, title: str, subject_for: SubjectFor, formulas: Formulas, sizes: str) -> ModelProfile:
        """The profile of a module with this release's names whose layers hold `sizes` (as the note lists them)."""
        stage_of, first = self.stage_of, self.stages[0]
        return ModelProfile(name=self.name, title=title, subject_for=lambda run: tail_subject(subject_for(run, stage_of, first)),
                            stage_of=root_output(stage_of), stages=self.stages, headlines=self.headlines,
                            formulas=formulas, quadratic_stage="attention", quadratic_words=self.quadratic_words,
                            quadratic_headline=self.quadratic_headline, kernel_stages=("attention",),
                            note=f"{self.label}'s module names: the {self.label} profile; sizes read from the module: {sizes}")
