"""ProPainter's stage map, the one place that knows its module names, and each stage's headline tensor."""

from __future__ import annotations

from dstt_profile.profiles.attention import stage_map
from dstt_profile.profiles.base import Headline
from dstt_profile.profiles.released import SOFT_COMPOSITION, SOFT_SPLIT

NAME = "propainter"
STAGES = ("encoder", "feature_propagation", "soft_split", "attention", "fusion_ffn", "soft_composition", "decoder",
          "output")

BLOCK = r"transformers\.transformer\.\d+"

# The ops of a module no rule names (the root, the blocks' container, a block) belong to the running stage: the
# frames and masks joined for the encoder, the flows' and masks' resize to the feature map and the mask's
# max-pool onto the token grid (`max_pool`, run between the encoder and the propagation) to the encoder, the
# propagated and other frames' features joined to feature propagation, the mask's layout for the transformer
# and the blocks' frame indices to soft split, a block's residual adds to its attention and fusion FFN, the
# skip add onto the encoder's features to soft composition; the root's tanh after the decoder is the output stage.
stage_of = stage_map((
    ("encoder", "encoder"),
    ("feat_prop_module|img_prop_module", "feature_propagation"),
    ("ss", "soft_split"),
    (rf"{BLOCK}\.(norm1|attention)", "attention"),
    (rf"{BLOCK}\.(norm2|mlp)", "fusion_ffn"),
    ("sc", "soft_composition"),
    ("decoder", "decoder"),
))

HEADLINES: dict[str, Headline] = {
    "encoder": Headline(r"encoder", 0, "encoder output (frames and both masks in)"),
    "feature_propagation": Headline(r"feat_prop_module", 2, "propagated features of the local frames (fused)"),
    "soft_split": SOFT_SPLIT,
    # attn_drop's first call: the masked windows' q.k^T matrix, softmaxed (identity dropout at inference)
    "attention": Headline(rf"{BLOCK}\.attention\.attn_drop", 0,
                          "attention matrix of a block's masked windows (softmax over q.k^T)"),
    "fusion_ffn": Headline(rf"{BLOCK}\.mlp\.fc1\.0", 0, "fusion FFN hidden activation (after the first Linear)"),
    "soft_composition": SOFT_COMPOSITION,
    "decoder": Headline(r"decoder", 0, "decoder output (the local frames)"),
    "output": Headline(r"", 0, "tanh output (the local frames)"),
}

ATTN = "transformers.transformer.0.attention"
SIGNATURE = ("encoder", "feat_prop_module", "feat_prop_module.deform_align", "feat_prop_module.backbone",
              "feat_prop_module.fuse", "img_prop_module", "max_pool", "ss", "ss.t2t", "ss.embedding", "transformers",
              "transformers.transformer", ATTN, f"{ATTN}.query", f"{ATTN}.key", f"{ATTN}.value", f"{ATTN}.proj",
              f"{ATTN}.attn_drop", f"{ATTN}.pool_layer", f"{ATTN}.max_pool", "transformers.transformer.0.norm1",
              "transformers.transformer.0.norm2", "transformers.transformer.0.mlp", "transformers.transformer.0.mlp.fc1",
              "sc", "sc.embedding", "sc.bias_conv", "decoder")
