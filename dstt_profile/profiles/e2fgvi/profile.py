"""The E2FGVI profile (Li et al., CVPR 2022: the released model/e2fgvi.py `InpaintGenerator`), for a module with
the release's module names (`detect`); its sizes are read off the module (docs/models.md, "Built-in profiles:
E2FGVI and ProPainter"). Its forward takes `num_local_frames` too: run it with `--inputs FILE.py:function`; the
formulas hold where every frame is local (num_local_frames = t)."""

from __future__ import annotations

from torch import nn

from dstt_profile.profiles.attention import StageFormulas
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.profiles.e2fgvi.formulas import ELEMENTS, FLOPS, TENSORS, Sizes, sizes_of, symbols_for
from dstt_profile.profiles.e2fgvi.stages import HEADLINES, NAME, SIGNATURE, STAGES, stage_of
from dstt_profile.profiles.released import Release, SubjectFor, has_layers, read
from dstt_profile.profiles.tokens import SOFT_SPLIT_KINDS

RELEASE = Release(NAME, "E2FGVI", STAGES, stage_of, HEADLINES, quadratic_words="temporal focal window attention",
                  quadratic_headline="attention matrix of a block")


def looks_like_e2fgvi(module: nn.Module) -> bool:
    """True when `module` has E2FGVI's module names (its soft split an Unfold and a Linear, its soft
    composition a Fold: the HQ variant's composition, a convolution, is not this profile's)."""
    return has_layers(module, SIGNATURE, {**SOFT_SPLIT_KINDS, "sc.t2t": nn.Fold})


def _note(sizes: Sizes) -> str:
    win = "x".join(map(str, sizes.window))
    return (f"{sizes.shown()}, window {win} (keys per frame {sizes.A} + {sizes.R} rolled + {sizes.P} pooled), "
            f"fusion FFN {sizes.f}; formulas for num_local_frames = t")


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The E2FGVI profile of an E2FGVI-shaped module (`probe`), else None."""
    if not looks_like_e2fgvi(probe) or (sizes := read(sizes_of, probe)) is None:
        return None
    return RELEASE.profile(title, subject_for, StageFormulas(symbols_for(sizes), ELEMENTS, FLOPS, TENSORS), _note(sizes))
