"""What a result saved before the renderers' hints travelled in its `profile` gets for them.

A file written before `quadratic_words`, `quadratic_headline` and `graph` were fields of
`ProfileRecord` (and one from before `model_args`, missing `colours` too) is read with the hints
filled in as plain JSON values before decoding: DSTT's where the run's profile is DSTT's, the
record's defaults (no notes, depth 1, a neutral palette) otherwise. Fields the file has are kept.

DSTT's hints are held here, their one copy, as data: the DSTT profile (profiles/dstt/profile.py) writes
these same records, and loading a result imports no profile.
"""

from __future__ import annotations

from typing import Any

from dstt_profile.errors import SchemaError
from dstt_profile.records.codec import to_jsonable
from dstt_profile.records.profilerecord import GraphHintsRecord, ModuleNote, OpNote

DSTT = "dstt"
# The built-in DSTT's sizes, configuration fields before any model could be profiled. In memory they are
# model arguments; a built-in DSTT run's JSON `config` still carries them flat as well (`config_json`).
DSTT_CONFIG_FIELDS = ("attention", "heads", "zones", "blocks", "hidden", "channel")
_BLOCK = r"transformer\.\d+"

DSTT_COLOURS = dict(zip(
    ("encoder", "hier_enc", "he_output", "temporal_attention", "spatial_attention", "ffn", "vec2patch", "decoder", "output"),
    ("#4e79a7", "#76b7b2", "#59a14f", "#e15759", "#f28e2b", "#edc948", "#b07aa1", "#9c755f", "#bab0ac"),
))
DSTT_GRAPH = GraphHintsRecord(
    depth=2,  # top-level modules' children: the transformer's blocks, each convolution of the encoders
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
DSTT_HINTS: dict[str, Any] = to_jsonable({"colours": DSTT_COLOURS, "quadratic_words": "temporal attention",
                                          "quadratic_headline": "temporal attention matrix", "graph": DSTT_GRAPH})


def fill_hints(run: Any) -> Any:
    """`run` (one run's JSON object) with DSTT's hints filled into a DSTT profile that lacks them;
    anything that is not such a run is returned as it is (decoding then judges it)."""
    if not isinstance(run, dict):
        return run
    profile = run.get("profile")
    if isinstance(profile, dict) and "blocks" in profile:  # a field no renderer read, no longer written
        profile = {k: v for k, v in profile.items() if k != "blocks"}
        run = {**run, "profile": profile}
    if not isinstance(profile, dict) or profile.get("name") != DSTT:
        return run
    missing = {key: value for key, value in DSTT_HINTS.items() if key not in profile}
    if not missing:
        return run
    return {**run, "profile": {**profile, **missing}}


def config_json(config: dict[str, Any]) -> dict[str, Any]:
    """A run's `config` as the JSON holds it: a built-in DSTT run's sizes also flat, where readers of
    results written before `model_args` existed find them."""
    if config.get("model") != "dstt":
        return config
    args = config.get("model_args", {})
    return {**config, **{name: args[name] for name in DSTT_CONFIG_FIELDS if name in args}}


def with_model(data: Any, where: str) -> Any:
    """A run as RunConfig reads it: the flat DSTT sizes folded into `model_args`.

    A file written before any model could be profiled has only the flat fields: they become the built-in
    DSTT's model arguments, and its profile is DSTT's (legacy.py adds the renderers' hints). A file that has
    both must hold the same values in each."""
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        return data
    config = dict(data["config"])
    flat = {name: config.pop(name) for name in DSTT_CONFIG_FIELDS if name in config}
    if "model_args" in config:
        args = config["model_args"]
        for name, value in flat.items():
            if not isinstance(args, dict) or args.get(name) != value:
                got = args.get(name) if isinstance(args, dict) else None
                raise SchemaError(f"{where}.config.{name}", f"{value!r} differs from model_args.{name} {got!r}")
        return {**data, "config": config}
    config.setdefault("model", "dstt")
    config["model_args"] = {"attention": "matmul", "heads": 4, "zones": 2, "blocks": 8, "hidden": 512,
                            "channel": 256, **flat}
    if "profile" in data:
        return {**data, "config": config}
    stages = list(data["stages"]) if isinstance(data.get("stages"), dict) else []
    profile = {
        "name": "dstt",
        "title": "DSTT",
        "variant": f"{config['model_args']['attention']} attention",
        "stages": stages,
        "quadratic_stage": "temporal_attention" if "temporal_attention" in stages else "",
    }
    return {**data, "config": config, "profile": profile}


_TENSOR_PEAK = {"tensor_bytes": "bytes", "tensor_stage": "stage", "tensor_op": "op", "tensor_op_index": "op_index",
                "tensor_module": "module"}


def split_peak(run: Any) -> Any:
    """A run whose `peak` holds both views (dstt-profile/1: `tensor_bytes`, `tensor_stage`, ...) with the
    tensor view as its own `tensor_peak`; anything else as it is."""
    if not isinstance(run, dict) or not isinstance(run.get("peak"), dict) or "tensor_peak" in run:
        return run
    peak = run["peak"]
    if not any(key in peak for key in _TENSOR_PEAK):
        return run
    tensor = {"bytes": 0, "stage": "", "op": "", "op_index": -1, "module": ""}
    tensor.update({_TENSOR_PEAK[k]: v for k, v in peak.items() if k in _TENSOR_PEAK})
    return {**run, "peak": {k: v for k, v in peak.items() if k not in _TENSOR_PEAK}, "tensor_peak": tensor}


def upgraded(run: Any, where: str) -> Any:
    """One run's JSON of any earlier schema as this one's types read it."""
    return split_peak(fill_hints(with_model(run, where)))
