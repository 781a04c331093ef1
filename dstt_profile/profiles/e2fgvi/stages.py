"""E2FGVI's stage map, the one place that knows its module names, and each stage's headline tensor."""

from __future__ import annotations

from dstt_profile.profiles.attention import stage_map
from dstt_profile.profiles.base import Headline
from dstt_profile.profiles.released import DECODER, ENCODER, SOFT_COMPOSITION, SOFT_SPLIT, TANH

NAME = "e2fgvi"
STAGES = ("flow_completion", "encoder", "feature_propagation", "soft_split", "attention", "fusion_ffn",
          "soft_composition", "decoder", "output")

BLOCK = r"transformer\.\d+"

# The ops of a module no rule names (the root, a block) belong to the running stage: the root's scaling and
# 1/4 resize of the local frames (before SPyNet runs) to flow completion, the concatenation of the propagated
# and the other frames' features to feature propagation, the skip add onto the encoder's features to soft
# composition, a block's window partitions, pooling and residual adds to its attention and fusion FFN; the
# root's tanh after the decoder is the output stage.
stage_of = stage_map((
    ("update_spynet", "flow_completion"),
    ("encoder", "encoder"),
    ("feat_prop_module", "feature_propagation"),
    ("ss", "soft_split"),
    (rf"{BLOCK}\.(norm1|pool_layers|attn)", "attention"),
    (rf"{BLOCK}\.(norm2|mlp)", "fusion_ffn"),
    ("sc", "soft_composition"),
    ("decoder", "decoder"),
))

HEADLINES: dict[str, Headline] = {
    "flow_completion": Headline(r"update_spynet", 0, "forward flows of the local frames at 1/4 size (SPyNet's first call)"),
    "encoder": ENCODER,
    "feature_propagation": Headline(r"feat_prop_module", 0, "propagated features of the local frames"),
    "soft_split": SOFT_SPLIT,
    # nn.Softmax's output: the q.k^T matrix (B*windows, heads, t*wh*ww, t*(wh*ww + R + P)) softmaxed
    "attention": Headline(rf"{BLOCK}\.attn\.softmax", 0, "attention matrix of a block (softmax over q.k^T)"),
    "fusion_ffn": Headline(rf"{BLOCK}\.mlp\.conv1\.0", 0, "fusion FFN hidden activation (after the first Linear)"),
    "soft_composition": SOFT_COMPOSITION,
    "decoder": DECODER,
    "output": TANH,
}

# Module names every E2FGVI generator has (the released file, a fork with other sizes).
ATTN = "transformer.0.attn"
SIGNATURE = ("update_spynet", "update_spynet.basic_module", "encoder", "feat_prop_module",
              "feat_prop_module.deform_align", "feat_prop_module.backbone", "feat_prop_module.fusion", "ss", "ss.t2t",
              "ss.embedding", "transformer", ATTN, f"{ATTN}.qkv", f"{ATTN}.proj", f"{ATTN}.softmax",
              "transformer.0.norm1", "transformer.0.norm2", "transformer.0.pool_layers", "transformer.0.mlp",
              "transformer.0.mlp.conv1", "sc", "sc.embedding", "sc.t2t", "decoder")
