"""DSTT's words for its layer graph: which block is temporal or spatial, and what the glue ops are.

The graph itself (render/graph.py) comes from module names and data flow alone; this only names
things, as data that travels in every run's `ProfileRecord.graph`.
"""

from __future__ import annotations

from dstt_profile.records.schema import GraphHintsRecord, ModuleNote, OpNote

GRAPH_DEPTH = 2  # top-level modules' children: the transformer's blocks, each convolution of the encoders
_BLOCK = r"transformer\.\d+"

GRAPH = GraphHintsRecord(
    depth=GRAPH_DEPTH,
    module_notes=(
        ModuleNote("hier_enc", "hierarchical encoder"),
        ModuleNote("patch2vec", "Patch2Vec (tokens)"),
        ModuleNote("vec2patch", "Vec2Patch (Fold)"),
        ModuleNote(_BLOCK, "temporal block", stage="temporal_attention"),
        ModuleNote(_BLOCK, "spatial block", stage="spatial_attention"),
    ),
    op_notes=(
        OpNote(("aten.add",), "long skip: hier_enc + Vec2Patch", module=""),  # the root's one add
        OpNote(("aten.add",), "residual", module=_BLOCK),  # a block's two residual adds
        OpNote(("aten.cat",), "groups interleaved", module="hier_enc"),
        OpNote(("aten.bmm", "aten._softmax", "aten.div"), "attention matrix", square=True),
    ),
)
