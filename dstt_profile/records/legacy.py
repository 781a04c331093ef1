"""What a result saved before the renderers' hints travelled in its `profile` gets for them.

A file written before `quadratic_words`, `quadratic_headline` and `graph` were fields of
`ProfileRecord` (and one from before `model_args`, missing `colours` too) is read with the hints
filled in as plain JSON values before decoding: DSTT's where the run's profile is DSTT's, the
record's defaults (no notes, depth 1, a neutral palette) otherwise. Fields the file has are kept.

DSTT's hints here are those the DSTT profile writes (profiles/dstt/), held as data so that loading
a result imports no profile; tests/test_rerender.py checks that the two agree.
"""

from __future__ import annotations

from typing import Any

DSTT = "dstt"
_BLOCK = r"transformer\.\d+"

DSTT_HINTS: dict[str, Any] = {
    "colours": {
        "encoder": "#4e79a7",
        "hier_enc": "#76b7b2",
        "he_output": "#59a14f",
        "temporal_attention": "#e15759",
        "spatial_attention": "#f28e2b",
        "ffn": "#edc948",
        "vec2patch": "#b07aa1",
        "decoder": "#9c755f",
        "output": "#bab0ac",
    },
    "quadratic_words": "temporal attention",
    "quadratic_headline": "temporal attention matrix",
    "graph": {
        "depth": 2,
        "module_notes": [
            {"module": "hier_enc", "words": "hierarchical encoder", "stage": ""},
            {"module": "patch2vec", "words": "Patch2Vec (tokens)", "stage": ""},
            {"module": "vec2patch", "words": "Vec2Patch (Fold)", "stage": ""},
            {"module": _BLOCK, "words": "temporal block", "stage": "temporal_attention"},
            {"module": _BLOCK, "words": "spatial block", "stage": "spatial_attention"},
        ],
        "op_notes": [
            {"ops": ["aten.add"], "words": "long skip: hier_enc + Vec2Patch", "module": "", "square": False},
            {"ops": ["aten.add"], "words": "residual", "module": _BLOCK, "square": False},
            {"ops": ["aten.cat"], "words": "groups interleaved", "module": "hier_enc", "square": False},
            {"ops": ["aten.bmm", "aten._softmax", "aten.div"], "words": "attention matrix", "module": ".*",
             "square": True},
        ],
    },
}


def fill_hints(run: Any) -> Any:
    """`run` (one run's JSON object) with DSTT's hints filled into a DSTT profile that lacks them;
    anything that is not such a run is returned as it is (decoding then judges it)."""
    if not isinstance(run, dict):
        return run
    profile = run.get("profile")
    if not isinstance(profile, dict) or profile.get("name") != DSTT:
        return run
    missing = {key: value for key, value in DSTT_HINTS.items() if key not in profile}
    if not missing:
        return run
    return {**run, "profile": {**profile, **missing}}
