"""DSTT's words for its layer graph: which block is temporal or spatial, and what the glue ops are.

The graph itself (render/graph.py) comes from module names and data flow alone; this only names things.
"""

from __future__ import annotations

import re

from dstt_profile.profiles.dstt.stages import BACKWARD
from dstt_profile.records.schema import RunRecord
from dstt_profile.render.graph import GraphHints, op_node

GRAPH_DEPTH = 2  # top-level modules' children: the transformer's blocks, each convolution of the encoders
_BLOCK = re.compile(r"transformer\.\d+")
_NAMES = {
    "hier_enc": "hierarchical encoder",
    "patch2vec": "Patch2Vec (tokens)",
    "vec2patch": "Vec2Patch (Fold)",
}


def graph_hints(run: RunRecord) -> GraphHints:
    """Notes for the blocks (temporal or spatial), the long skip add, each block's residual adds, the
    hierarchical encoder's channel interleaving and the attention matrices."""
    notes: dict[str, str] = dict(_NAMES)
    for m in run.modules:
        if _BLOCK.fullmatch(m.name) and m.stage.endswith("_attention"):
            notes[m.name] = m.stage.removesuffix("_attention") + " block"
    for o in run.ops:
        if o.stage == BACKWARD:
            break
        if o.module == "" and o.op == "aten.add":
            notes[op_node(o)] = "long skip: hier_enc + Vec2Patch"
        elif _BLOCK.fullmatch(o.module) and o.op == "aten.add":
            notes[op_node(o)] = "residual"
        elif o.module == "hier_enc" and o.op == "aten.cat":
            notes[op_node(o)] = "groups interleaved"
        elif o.op in ("aten.bmm", "aten._softmax", "aten.div") and o.outputs and _square(o.outputs[0].shape):
            notes[op_node(o)] = "attention matrix"
    return GraphHints(
        name="dstt",
        title="DSTT layer graph, data flow of the forward pass",
        depth=GRAPH_DEPTH,
        notes=notes,
        skip_stages=frozenset({BACKWARD}),
    )


def _square(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 3 and shape[-1] == shape[-2] and shape[-1] > 1
