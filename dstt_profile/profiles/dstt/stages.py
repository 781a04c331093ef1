"""The stage map, the one place that knows DSTT's module names; modules no rule names (the root, a block)
run glue ops (views, residual adds), which belong to the stage that was running."""

from __future__ import annotations

import re
from collections.abc import Callable

from dstt_profile.profiles.base import Headline

# Network order (docs/architecture.md).
STAGES = ("encoder", "hier_enc", "he_output", "temporal_attention", "spatial_attention", "ffn", "vec2patch",
          "decoder", "output")
ATTENTION_STAGES = ("temporal_attention", "spatial_attention")

BlockKind = Callable[[int], str]  # block index -> "temporal" | "spatial"

# (module-name pattern, stage): a module whose name fully matches belongs to the stage; `{kind}` is the
# kind (temporal or spatial) of the block the `block` group names.
RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), stage) for pattern, stage in (
    (r"encoder(\..+)?", "encoder"),
    (r"hier_enc(\..+)?", "hier_enc"),
    (r"patch2vec", "he_output"),
    (r"transformer\.(?P<block>\d+)\.(norm1|dropout|attention)(\..+)?", "{kind}_attention"),
    (r"transformer\.(?P<block>\d+)\.(norm2|ffn)(\..+)?", "ffn"),
    (r"vec2patch(\..+)?", "vec2patch"),
    (r"decoder(\..+)?", "decoder"),
    (r"output", "output"),
))


def stage_of(module: str, block_kind: BlockKind) -> str | None:
    """The stage a module belongs to, or None for glue modules (root, containers, blocks)."""
    for regex, stage in RULES:
        if m := regex.fullmatch(module):
            return stage.format(kind=block_kind(int(m.group("block")))) if "{kind}" in stage else stage
    return None


# An attention stage's headline is the matrix; where a fused kernel never builds it, the largest tensor
# made inside the attention module (one name part up) stands in.
_MATRIX = r"transformer\.\d+\.attention\.attention"
HEADLINES: dict[str, Headline] = {
    "encoder": Headline(r"encoder", 0, "encoder output"),
    "hier_enc": Headline(r"hier_enc", 0, "hierarchical encoder output"),
    "he_output": Headline(r"patch2vec", 0, "patch2vec output: tokens entering the transformer"),
    "temporal_attention": Headline(_MATRIX, 1, "attention matrix of a temporal block", scope_up=1),
    "spatial_attention": Headline(_MATRIX, 1, "attention matrix of a spatial block", scope_up=1),
    "ffn": Headline(r"transformer\.\d+\.ffn\.conv\.0", 0, "FFN hidden activation (after the first Linear)"),
    "vec2patch": Headline(r"vec2patch\.embedding", 0, "Vec2Patch embedding output, before Fold"),
    "decoder": Headline(r"decoder", 0, "decoder output"),
    "output": Headline(r"output", 0, "tanh output"),
}

# The output stage of a generator that applies tanh in its own forward (the release): the root's output.
ROOT_OUTPUT = Headline(r"", 0, "tanh output")

# Tensors checked against a formula that are not a stage's headline: name -> (module, output index, what).
EXTRA_TENSORS: dict[str, tuple[str, int, str]] = {"vec2patch_fold": (r"vec2patch\.to_patch", 0, "Fold output")}
