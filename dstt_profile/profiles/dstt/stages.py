"""The stage map: which module belongs to which DSTT stage, and what each stage's headline tensor is.

This is the one place that knows DSTT's module names. A variant model is a new table here, not new
plumbing. Modules no rule names (the root, `transformer`, a block itself) run glue ops (views, residual
adds); those ops belong to the stage that was running, so the add after an attention belongs to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dstt_profile.records.schema import BACKWARD as BACKWARD  # the backward pass's stage

# Network order; the first five after `hier_enc` are docs/architecture.md's operation-analysis stages.
STAGES: tuple[str, ...] = (
    "encoder",
    "hier_enc",
    "he_output",
    "temporal_attention",
    "spatial_attention",
    "ffn",
    "vec2patch",
    "decoder",
    "output",
)
ANALYSIS_STAGES: tuple[str, ...] = (
    "he_output",
    "spatial_attention",
    "ffn",
    "temporal_attention",
    "vec2patch",
)
ATTENTION_STAGES: tuple[str, ...] = ("temporal_attention", "spatial_attention")

BlockKind = Callable[[int], str]  # block index -> "temporal" | "spatial"


@dataclass(frozen=True)
class StageRule:
    """Modules whose name fully matches `pattern` belong to `stage`. `{kind}` in the stage is filled
    with the block's kind (temporal or spatial) from the `block` group of the match."""

    pattern: str
    stage: str


RULES: tuple[StageRule, ...] = (
    StageRule(r"encoder(\..+)?", "encoder"),
    StageRule(r"hier_enc(\..+)?", "hier_enc"),
    StageRule(r"patch2vec", "he_output"),
    StageRule(r"transformer\.(?P<block>\d+)\.(norm1|dropout|attention)(\..+)?", "{kind}_attention"),
    StageRule(r"transformer\.(?P<block>\d+)\.(norm2|ffn)(\..+)?", "ffn"),
    StageRule(r"vec2patch(\..+)?", "vec2patch"),
    StageRule(r"decoder(\..+)?", "decoder"),
    StageRule(r"output", "output"),
)
_COMPILED = tuple((re.compile(rule.pattern), rule.stage) for rule in RULES)


def stage_of(module: str, block_kind: BlockKind) -> str | None:
    """The stage a module belongs to, or None for glue modules (root, containers, blocks)."""
    for regex, stage in _COMPILED:
        m = regex.fullmatch(module)
        if m:
            if "{kind}" in stage:
                return stage.format(kind=block_kind(int(m.group("block"))))
            return stage
    return None


@dataclass(frozen=True)
class Headline:
    """A stage's headline tensor: output `output` of the modules fully matching `module`.

    `what` says what it is in words; the first matching module (in call order) gives the per-instance
    figure, and the number of matching modules is the stage's instance count.
    """

    module: str
    output: int
    what: str


HEADLINES: dict[str, Headline] = {
    "encoder": Headline(r"encoder", 0, "encoder output"),
    "hier_enc": Headline(r"hier_enc", 0, "hierarchical encoder output"),
    "he_output": Headline(r"patch2vec", 0, "patch2vec output: tokens entering the transformer"),
    "temporal_attention": Headline(
        r"transformer\.\d+\.attention\.attention", 1, "attention matrix of a temporal block"
    ),
    "spatial_attention": Headline(
        r"transformer\.\d+\.attention\.attention", 1, "attention matrix of a spatial block"
    ),
    "ffn": Headline(r"transformer\.\d+\.ffn\.conv\.0", 0, "FFN hidden activation (after the first Linear)"),
    "vec2patch": Headline(r"vec2patch\.embedding", 0, "Vec2Patch embedding output, before Fold"),
    "decoder": Headline(r"decoder", 0, "decoder output"),
    "output": Headline(r"output", 0, "tanh output"),
}

# Tensors checked against a formula that are not a stage's headline: name -> (module, output index).
EXTRA_TENSORS: dict[str, tuple[str, int, str]] = {
    "vec2patch_fold": (r"vec2patch\.to_patch", 0, "Fold output"),
}

# Where a fused attention kernel runs instead of the explicit matrix.
ATTENTION_MODULE = re.compile(r"transformer\.(?P<block>\d+)\.attention(\..+)?")
