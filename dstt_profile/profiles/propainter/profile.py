"""The ProPainter profile (Zhou et al., ICCV 2023: the released model/propainter.py `InpaintGenerator`), for a
module with the release's module names (`detect`); its sizes are read off the module (docs/models.md,
"Built-in profiles: E2FGVI and ProPainter"). Its forward takes the flows, masks and `num_local_frames`: run it
with `--inputs FILE.py:function`. Its sparse attention's matrices depend on how many windows the mask
touches; the formulas read that from the run's masks (windows.py)."""

from __future__ import annotations

from torch import nn

from dstt_profile.profiles.attention import StageFormulas
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.profiles.propainter.formulas import ELEMENTS, FLOPS, TENSORS, symbols_for
from dstt_profile.profiles.propainter.sizes import Sizes, sizes_of
from dstt_profile.profiles.propainter.stages import HEADLINES, NAME, SIGNATURE, STAGES, stage_of
from dstt_profile.profiles.released import Release, SubjectFor, has_layers, read
from dstt_profile.profiles.tokens import SOFT_SPLIT_KINDS

RELEASE = Release(NAME, "ProPainter", STAGES, stage_of, HEADLINES, quadratic_words="sparse window attention",
                  quadratic_headline="attention matrix of a block's masked windows")


def looks_like_propainter(module: nn.Module) -> bool:
    """True when `module` has ProPainter's module names (its soft split an Unfold and a Linear)."""
    return has_layers(module, SIGNATURE, {**SOFT_SPLIT_KINDS, "max_pool": nn.MaxPool2d})


def _note(sizes: Sizes) -> str:
    win, pool = ("x".join(map(str, v)) for v in (sizes.window, sizes.pool))
    return (f"{sizes.shown()}, window {win} (keys per frame {sizes.A} + {sizes.R} rolled + the {pool}-pooled tokens), "
            f"fusion FFN {sizes.f}; masked windows counted from the run's masks")


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The ProPainter profile of a ProPainter-shaped module (`probe`), else None."""
    if not looks_like_propainter(probe) or (sizes := read(sizes_of, probe)) is None:
        return None
    return RELEASE.profile(title, subject_for, StageFormulas(symbols_for(sizes), ELEMENTS, FLOPS, TENSORS), _note(sizes))
