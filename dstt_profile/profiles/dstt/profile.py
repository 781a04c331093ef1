"""The DSTT profile: the built-in network (model/dstt.py), sized by the run's model arguments (args.py),
or a user's module with DSTT's module names, sized as its layers show (`sizes_of`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from torch import nn

from dstt_profile.engine.subject import Subject
from dstt_profile.errors import UsageError
from dstt_profile.profiles.base import FormulaValue, ModelProfile
from dstt_profile.profiles.dstt import stages as st
from dstt_profile.profiles.dstt.args import DEFAULTS, config_of
from dstt_profile.profiles.dstt.formulas import ELEMENTS, FLOPS, FUSED_ELEMENTS, Formula, Symbols, general
from dstt_profile.profiles.dstt.graphhints import GRAPH
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import CheckRecord, StageRecord
from model.config import DSTTConfig

NAME = "dstt"
COLOURS = dict(zip(st.STAGES, ("#4e79a7", "#76b7b2", "#59a14f", "#e15759", "#f28e2b", "#edc948", "#b07aa1",
                               "#9c755f", "#bab0ac")))
_BLOCK_KIND = DSTTConfig().block_kind  # temporal at even index, spatial at odd, as released


def stage_of(module: str) -> str | None:
    return st.stage_of(module, _BLOCK_KIND)


def _value(formula: Formula, sym: Symbols) -> FormulaValue:
    return FormulaValue(general(formula, sym), formula.substituted(sym), formula.value(sym))


class DSTTFormulas:
    """docs/architecture.md's formulas for the network `config_for(run)` describes."""

    def __init__(self, config_for: Callable[[RunConfig], DSTTConfig]) -> None:
        self.config_for = config_for

    def stage(self, run: RunConfig, stage: str, materialised: bool) -> FormulaValue | None:
        table = ELEMENTS if materialised else FUSED_ELEMENTS
        formula = table.get(stage)
        return _value(formula, Symbols.of(run, self.config_for(run))) if formula is not None else None

    def checks(self, run: RunConfig, stages: Mapping[str, StageRecord], tensor: Callable[[str, int], int]) -> tuple[CheckRecord, ...]:
        sym = Symbols.of(run, self.config_for(run))

        def check(name: str, formula: Formula, measured: int, unit: str) -> CheckRecord:
            v = _value(formula, sym)
            return CheckRecord(name, v.general, v.substituted, v.value, measured, unit)

        out = []
        for stage in st.STAGES:
            rec = stages[stage]
            formula = ELEMENTS[stage] if rec.materialised else FUSED_ELEMENTS[stage]
            out.append(check(f"{stage}.elements", formula, rec.elements, "elements"))
        for name, (pattern, index, _what) in st.EXTRA_TENSORS.items():
            out.append(check(f"{name}.elements", ELEMENTS[name], tensor(pattern, index), "elements"))
        for stage, formula in FLOPS.items():
            out.append(check(f"{stage}.flops", formula, stages[stage].flops, "FLOPs"))
        return tuple(out)


def _variant(run: RunConfig) -> str:
    attention = run.arg("attention")
    return f"{attention} attention" if attention else ""


def slug_variants(run: RunConfig) -> tuple[str, ...]:
    attention = run.arg("attention", "matmul")
    return (str(attention),) if attention != "matmul" else ()


def _profile(title: str, subject_for: Callable[[RunConfig], Subject], config_for: Callable[[RunConfig], DSTTConfig],
             note: str = "", variant: Callable[[RunConfig], str] = _variant) -> ModelProfile:
    return ModelProfile(
        name=NAME, title=title, subject_for=subject_for, stage_of=stage_of, stages=st.STAGES, headlines=st.HEADLINES,
        formulas=DSTTFormulas(config_for), quadratic_stage="temporal_attention", quadratic_words="temporal attention",
        quadratic_headline="temporal attention matrix", colours=COLOURS, graph=GRAPH,
        kernel_stages=st.ATTENTION_STAGES, variant=variant, slug_variants=slug_variants, note=note,
    )


def builtin() -> ModelProfile:
    """The built-in network, sized by each run's model arguments."""

    def subject_for(run: RunConfig) -> Subject:
        from model import InpaintGenerator

        cfg = config_of(run)
        return Subject(key=(NAME, cfg), build=lambda real: InpaintGenerator(cfg, init_weights=real), stage_of=stage_of,
                       first_stage=st.STAGES[0])

    return _profile("DSTT", subject_for, config_of)


# Module names every DSTT generator has (the released file, a fork with other sizes).
_SIGNATURE = ("encoder", "hier_enc", "patch2vec", "transformer", "transformer.0.attention", "transformer.0.ffn",
              "transformer.0.norm1", "transformer.0.norm2", "vec2patch", "vec2patch.embedding", "decoder")


def looks_like_dstt(module: nn.Module) -> bool:
    """True when `module` has DSTT's module names (and a patch2vec convolution)."""
    names = {name for name, _ in module.named_modules()}
    return all(n in names for n in _SIGNATURE) and isinstance(getattr(module, "patch2vec", None), nn.Conv2d)


def sizes_of(module: nn.Module) -> tuple[DSTTConfig, str]:
    """The DSTT sizes a DSTT-shaped module has (hidden, channel, blocks and the patch geometry from its
    layers; heads and zones where its attention holds them, else the released defaults), and a
    sentence saying which were read and which assumed."""
    p2v = module.patch2vec
    assert isinstance(p2v, nn.Conv2d)
    read = {"hidden": int(p2v.out_channels), "channel": 2 * int(p2v.in_channels), "kernel": _first(p2v.kernel_size),
            "stride": _first(p2v.stride), "padding": _first(p2v.padding),
            "blocks": len(list(module.get_submodule("transformer").children()))}
    attention = module.get_submodule("transformer.0.attention")
    for name, keys in (("heads", ("heads", "head", "num_heads", "h")), ("zones", ("zones", "zone"))):
        for key in keys:
            value = getattr(attention, key, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                read[name] = value
                break
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


def detected(title: str, subject_for: Callable[[RunConfig], Subject], module: nn.Module) -> ModelProfile:
    """The DSTT profile for a loaded DSTT-shaped module (`module`: one instance, for its sizes)."""
    config, note = sizes_of(module)

    def config_for(run: RunConfig) -> DSTTConfig:
        try:
            return replace(config, height=run.height, width=run.width)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    return _profile(title, subject_for, config_for, note, variant=lambda _run: "")
