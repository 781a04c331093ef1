"""E2FGVI's stage map, the one place that knows its module names, and each stage's headline tensor."""

from __future__ import annotations

from dstt_profile.profiles.attention import stage_map
from dstt_profile.profiles.base import Headline

NAME = "e2fgvi"
STAGES = ("flow_completion", "encoder", "feature_propagation", "soft_split", "attention", "fusion_ffn",
          "soft_composition", "decoder", "output")

# The ops of a module no rule names (the root, a block) belong to the running stage: the root's scaling and
# 1/4 resize of the local frames (before SPyNet runs) to flow completion, the concatenation of the propagated
# and the other frames' features to feature propagation, the skip add onto the encoder's features to soft
# composition, a block's window partitions, pooling and residual adds to its attention and fusion FFN; the
# root's tanh after the decoder is the output stage.
stage_of = stage_map((
    (r"update_spynet(\..+)?", "flow_completion"),
    (r"encoder(\..+)?", "encoder"),
    (r"feat_prop_module(\..+)?", "feature_propagation"),
    (r"ss(\..+)?", "soft_split"),
    (r"transformer\.\d+\.(norm1|pool_layers|attn)(\..+)?", "attention"),
    (r"transformer\.\d+\.(norm2|mlp)(\..+)?", "fusion_ffn"),
    (r"sc(\..+)?", "soft_composition"),
    (r"decoder(\..+)?", "decoder"),
))

BLOCK = r"transformer\.\d+"
HEADLINES: dict[str, Headline] = {
    "flow_completion": Headline(r"update_spynet", 0, "forward flows of the local frames at 1/4 size (SPyNet's first call)"),
    "encoder": Headline(r"encoder", 0, "encoder output"),
    "feature_propagation": Headline(r"feat_prop_module", 0, "propagated features of the local frames"),
    "soft_split": Headline(r"ss", 0, "soft split output: the clip's tokens entering the transformer"),
    # nn.Softmax's output: the q.k^T matrix (B*windows, heads, t*wh*ww, t*(wh*ww + R + P)) softmaxed
    "attention": Headline(rf"{BLOCK}\.attn\.softmax", 0, "attention matrix of a block (softmax over q.k^T)"),
    "fusion_ffn": Headline(rf"{BLOCK}\.mlp\.conv1\.0", 0, "fusion FFN hidden activation (after the first Linear)"),
    "soft_composition": Headline(r"sc\.embedding", 0, "soft composition embedding output, before Fold"),
    "decoder": Headline(r"decoder", 0, "decoder output"),
    "output": Headline(r"", 0, "tanh output"),
}

# Module names every E2FGVI generator has (the released file, a fork with other sizes).
ATTN = "transformer.0.attn"
SIGNATURE = ("update_spynet", "update_spynet.basic_module", "encoder", "feat_prop_module",
              "feat_prop_module.deform_align", "feat_prop_module.backbone", "feat_prop_module.fusion", "ss", "ss.t2t",
              "ss.embedding", "transformer", ATTN, f"{ATTN}.qkv", f"{ATTN}.proj", f"{ATTN}.softmax",
              "transformer.0.norm1", "transformer.0.norm2", "transformer.0.pool_layers", "transformer.0.mlp",
              "transformer.0.mlp.conv1", "sc", "sc.embedding", "sc.t2t", "decoder")
