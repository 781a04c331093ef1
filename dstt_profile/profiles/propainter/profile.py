"""The ProPainter profile (Zhou et al., ICCV 2023: the released model/propainter.py `InpaintGenerator`), for a
module with the release's module names (`detect`); its sizes are read off the module (docs/models.md,
"Built-in profiles: E2FGVI and ProPainter"). Its forward takes the flows, masks and `num_local_frames`: run it
with `--inputs FILE.py:function`. Its sparse attention's matrices depend on how many windows the mask
touches; the formulas read that from the run's masks (windows.py)."""

from __future__ import annotations

from torch import nn

from dstt_profile.profiles.attention import StageFormulas, SubjectFor, has_modules, root_output, tail_subject
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.profiles.propainter.formulas import ELEMENTS, FLOPS, TENSORS, symbols_for
from dstt_profile.profiles.propainter.sizes import Sizes, sizes_of
from dstt_profile.profiles.propainter.stages import HEADLINES, NAME, SIGNATURE, STAGES, stage_of


def looks_like_propainter(module: nn.Module) -> bool:
    """True when `module` has ProPainter's module names (its soft split an Unfold and a Linear)."""
    return (has_modules(module, SIGNATURE) and isinstance(module.get_submodule("ss.t2t"), nn.Unfold)
            and isinstance(module.get_submodule("ss.embedding"), nn.Linear)
            and isinstance(module.get_submodule("max_pool"), nn.MaxPool2d))


def _note(sizes: Sizes) -> str:
    k, st, p, win, pool = ("x".join(map(str, v)) for v in (sizes.kernel, sizes.stride, sizes.padding, sizes.window, sizes.pool))
    return (f"ProPainter's module names: the ProPainter profile; sizes read from the module: channels {sizes.c}, hidden "
            f"{sizes.d}, heads {sizes.k}, blocks {sizes.L}, soft split kernel {k} stride {st} padding {p}, window {win} "
            f"(keys per frame {sizes.A} + {sizes.R} rolled + the {pool}-pooled tokens), fusion FFN {sizes.f}; masked "
            "windows counted from the run's masks")


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The ProPainter profile of a ProPainter-shaped module (`probe`), else None."""
    if not looks_like_propainter(probe):
        return None
    try:
        sizes = sizes_of(probe)
    except (ValueError, AttributeError, TypeError, StopIteration):
        return None
    formulas = StageFormulas(symbols_for(sizes), ELEMENTS, FLOPS, TENSORS)
    return ModelProfile(name=NAME, title=title, subject_for=lambda run: tail_subject(subject_for(run, stage_of, STAGES[0])),
                        stage_of=root_output(stage_of), stages=STAGES, headlines=HEADLINES, formulas=formulas,
                        quadratic_stage="attention", quadratic_words="sparse window attention",
                        quadratic_headline="attention matrix of a block's masked windows", kernel_stages=("attention",),
                        note=_note(sizes))
