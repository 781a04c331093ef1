"""The DSTT profile: the built-in network, or a user's module with DSTT's module names (`sizes_of`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from torch import nn

from dstt_profile.engine.subject import Subject
from dstt_profile.errors import UsageError
from dstt_profile.profiles.base import FormulaValue, ModelProfile
from dstt_profile.profiles.dstt import stages as st
from dstt_profile.profiles.dstt.args import DEFAULTS, config_of
from dstt_profile.profiles.dstt.formulas import ELEMENTS, FLOPS, FUSED_ELEMENTS, Formula, Symbols
from dstt_profile.records.legacy import DSTT_COLOURS as COLOURS
from dstt_profile.records.legacy import DSTT_GRAPH as GRAPH
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import CheckRecord, StageRecord
from model.config import DSTTConfig

NAME = "dstt"
_BLOCK_KIND = DSTTConfig().block_kind  # temporal at even index, spatial at odd, as released


def stage_of(module: str) -> str | None:
    return st.stage_of(module, _BLOCK_KIND)


class DSTTFormulas:
    """docs/architecture.md's formulas for the network `config_for(run)` describes."""

    def __init__(self, config_for: Callable[[RunConfig], DSTTConfig]) -> None:
        self.config_for = config_for

    def stage(self, run: RunConfig, stage: str, materialised: bool) -> FormulaValue | None:
        formula = (ELEMENTS if materialised else FUSED_ELEMENTS).get(stage)
        return formula.at(Symbols.of(run, self.config_for(run))) if formula is not None else None

    def checks(self, run: RunConfig, stages: Mapping[str, StageRecord], tensor: Callable[[str, int], int]) -> tuple[CheckRecord, ...]:
        sym = Symbols.of(run, self.config_for(run))

        def check(name: str, formula: Formula, measured: int, unit: str) -> CheckRecord:
            v = formula.at(sym)
            return CheckRecord(name, v.general, v.substituted, v.value, measured, unit)

        return (*(check(f"{s}.elements", (ELEMENTS if stages[s].materialised else FUSED_ELEMENTS)[s], stages[s].elements,
                        "elements") for s in st.STAGES),
                *(check(f"{name}.elements", ELEMENTS[name], tensor(pattern, index), "elements")
                  for name, (pattern, index, _what) in st.EXTRA_TENSORS.items()),
                *(check(f"{s}.flops", formula, stages[s].flops, "FLOPs") for s, formula in FLOPS.items()))


def _variant(run: RunConfig) -> str:
    attention = run.arg("attention")
    return f"{attention} attention" if attention else ""


def slug_variants(run: RunConfig) -> tuple[str, ...]:
    attention = run.arg("attention", "matmul")
    return (str(attention),) if attention != "matmul" else ()


def _profile(title: str, subject_for: Callable[[RunConfig], Subject], config_for: Callable[[RunConfig], DSTTConfig],
             **hooks: Any) -> ModelProfile:
    return ModelProfile(name=NAME, title=title, subject_for=subject_for, stage_of=stage_of, stages=st.STAGES,
                        headlines=st.HEADLINES, formulas=DSTTFormulas(config_for), quadratic_stage="temporal_attention",
                        quadratic_words="temporal attention", quadratic_headline="temporal attention matrix", colours=COLOURS,
                        graph=GRAPH, kernel_stages=st.ATTENTION_STAGES, slug_variants=slug_variants, **hooks)


def check_checkpoint(path: str, run: RunConfig) -> str:
    """One line saying that the checkpoint at `path` loads strictly into `run`'s network (else UsageError)."""
    from model.dstt import CheckpointError, load_checkpoint

    cfg = config_of(run)
    try:
        model = load_checkpoint(path, cfg)
    except CheckpointError as exc:
        raise UsageError(f"--checkpoint {exc}") from None
    params = sum(p.numel() for p in model.parameters())
    return (f"checkpoint   {path}: matches (hidden {cfg.hidden}, channel {cfg.channel}, blocks {cfg.blocks}, "
            f"heads {cfg.heads}; {len(model.state_dict())} tensors, {params:,} parameters, loaded strictly)")


@functools.cache
def factory(run: RunConfig) -> Callable[..., nn.Module]:
    """The built-in network of `run`'s sizes as a factory, for a generic profile (a user's stage map)."""
    from model import InpaintGenerator

    config = config_of(run)
    return lambda **_: InpaintGenerator(config, init_weights=False)


def builtin() -> ModelProfile:
    """The built-in network, sized by each run's model arguments."""

    def subject_for(run: RunConfig) -> Subject:
        from model import InpaintGenerator

        cfg = config_of(run)
        return Subject(key=(NAME, cfg), build=lambda real: InpaintGenerator(cfg, init_weights=real), stage_of=stage_of,
                       first_stage=st.STAGES[0])

    return _profile("DSTT", subject_for, config_of, variant=_variant, check_checkpoint=check_checkpoint)


# Module names every DSTT generator has (the released file, a fork with other sizes).
_SIGNATURE = ("encoder", "hier_enc", "patch2vec", "transformer", "transformer.0.attention", "transformer.0.ffn",
              "transformer.0.norm1", "transformer.0.norm2", "vec2patch", "vec2patch.embedding", "decoder")


def looks_like_dstt(module: nn.Module) -> bool:
    """True when `module` has DSTT's module names (and a patch2vec convolution)."""
    names = {name for name, _ in module.named_modules()}
    return all(n in names for n in _SIGNATURE) and isinstance(getattr(module, "patch2vec", None), nn.Conv2d)


def sizes_of(module: nn.Module) -> tuple[DSTTConfig, str]:
    """The DSTT sizes a DSTT-shaped module's layers show (heads and zones, where its attention holds none,
    the released defaults), and a sentence saying which were read and which assumed."""
    p2v = module.patch2vec
    assert isinstance(p2v, nn.Conv2d)
    read = {"hidden": int(p2v.out_channels), "channel": 2 * int(p2v.in_channels), "kernel": _first(p2v.kernel_size),
            "stride": _first(p2v.stride), "padding": _first(p2v.padding),
            "blocks": len(list(module.get_submodule("transformer").children()))}
    attention = module.get_submodule("transformer.0.attention")
    for name, keys in (("heads", ("heads", "head", "num_heads", "h")), ("zones", ("zones", "zone"))):
        values = (getattr(attention, key, None) for key in keys)
        if found := [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0][:1]:
            read[name] = found[0]
    assumed = [name for name in ("heads", "zones") if name not in read]
    sizes = {**{k: v for k, v in DEFAULTS.items() if k in assumed}, **read}
    config = replace(DSTTConfig(), **sizes)  # type: ignore[arg-type]
    shown = ", ".join(f"{k} {read[k]}" for k in ("hidden", "channel", "blocks", "heads", "zones") if k in read)
    note = f"DSTT's module names: the DSTT profile; sizes read from the module: {shown}"
    if assumed:
        note += "; " + ", ".join(f"{k} {DEFAULTS[k]}" for k in assumed) + " assumed (the released defaults)"
    return config, note


def _first(value: object) -> int:
    return int(value[0]) if isinstance(value, tuple) else int(value)  # type: ignore[call-overload]


def detected(title: str, subject: Callable[[RunConfig, Callable[[str], str | None], str], Subject],
             module: nn.Module) -> ModelProfile:
    """The DSTT profile of a DSTT-shaped module (one instance, for its sizes)."""
    config, note = sizes_of(module)

    def config_for(run: RunConfig) -> DSTTConfig:
        try:
            return replace(config, height=run.height, width=run.width)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    if "output" in dict(module.named_children()):
        return _profile(title, lambda run: subject(run, stage_of, st.STAGES[0]), config_for, note=note)
    # the release: tanh applied in the root's forward, after the decoder; its output is the root's
    profile = _profile(title, lambda run: replace(subject(run, stage_of, st.STAGES[0]), tail_stage="output"), config_for,
                       note=f"{note}; output: the root's own ops after the decoder (its tanh)")
    return replace(profile, stage_of=_root_as_output, headlines={**st.HEADLINES, "output": st.ROOT_OUTPUT})


def _root_as_output(module: str) -> str | None:
    """The stage of a module in a generator without an `output` module: the root's output is the tanh's."""
    return "output" if module == "" else stage_of(module)
