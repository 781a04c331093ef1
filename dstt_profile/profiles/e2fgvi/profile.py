"""The E2FGVI profile (Li et al., CVPR 2022: the released model/e2fgvi.py `InpaintGenerator`), for a module with
the release's module names (`detect`); its sizes are read off the module (docs/models.md, "Built-in profiles:
E2FGVI and ProPainter"). Its forward takes `num_local_frames` too: run it with `--inputs FILE.py:function`; the
formulas hold where every frame is local (num_local_frames = t)."""

from __future__ import annotations

from torch import nn

from dstt_profile.profiles.attention import StageFormulas, SubjectFor, has_modules, root_output, tail_subject
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.profiles.e2fgvi.formulas import ELEMENTS, FLOPS, TENSORS, Sizes, sizes_of, symbols_for
from dstt_profile.profiles.e2fgvi.stages import HEADLINES, NAME, SIGNATURE, STAGES, stage_of


def looks_like_e2fgvi(module: nn.Module) -> bool:
    """True when `module` has E2FGVI's module names (its soft split an Unfold and a Linear, its soft
    composition a Fold: the HQ variant's composition, a convolution, is not this profile's)."""
    return (has_modules(module, SIGNATURE) and isinstance(module.get_submodule("ss.t2t"), nn.Unfold)
            and isinstance(module.get_submodule("ss.embedding"), nn.Linear)
            and isinstance(module.get_submodule("sc.t2t"), nn.Fold))


def _note(sizes: Sizes) -> str:
    k, st, p, win = ("x".join(map(str, v)) for v in (sizes.kernel, sizes.stride, sizes.padding, sizes.window))
    return (f"E2FGVI's module names: the E2FGVI profile; sizes read from the module: channels {sizes.c}, hidden {sizes.d}, "
            f"heads {sizes.k}, blocks {sizes.L}, soft split kernel {k} stride {st} padding {p}, window {win} "
            f"(keys per frame {sizes.A} + {sizes.R} rolled + {sizes.P} pooled), fusion FFN {sizes.f}; "
            "formulas for num_local_frames = t")


def detect(title: str, subject_for: SubjectFor, probe: nn.Module) -> ModelProfile | None:
    """The E2FGVI profile of an E2FGVI-shaped module (`probe`), else None."""
    if not looks_like_e2fgvi(probe):
        return None
    try:
        sizes = sizes_of(probe)
    except (ValueError, AttributeError, TypeError, StopIteration):
        return None
    formulas = StageFormulas(symbols_for(sizes), ELEMENTS, FLOPS, TENSORS)
    return ModelProfile(name=NAME, title=title, subject_for=lambda run: tail_subject(subject_for(run, stage_of, STAGES[0])),
                        stage_of=root_output(stage_of), stages=STAGES, headlines=HEADLINES, formulas=formulas,
                        quadratic_stage="attention", quadratic_words="temporal focal window attention",
                        quadratic_headline="attention matrix of a block", kernel_stages=("attention",), note=_note(sizes))
