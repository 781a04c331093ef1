"""Results of earlier schemas read as this one's types: flat DSTT sizes, no profile hints, one peak with both
views. DSTT's hints are held here, their one copy, as data: its profile (profiles/dstt/profile.py) writes
these same records, and loading a result imports no profile."""

from __future__ import annotations

from typing import Any

from dstt_profile.errors import SchemaError
from dstt_profile.records.codec import to_jsonable
from dstt_profile.records.profilerecord import GraphHintsRecord, ModuleNote, OpNote

DSTT = "dstt"
# The built-in DSTT's sizes: model arguments in memory, flat in its JSON `config` as well (`config_json`).
DSTT_CONFIG_FIELDS = ("attention", "heads", "zones", "blocks", "hidden", "channel")
_BLOCK = r"transformer\.\d+"

DSTT_COLOURS = dict(zip(
    ("encoder", "hier_enc", "he_output", "temporal_attention", "spatial_attention", "ffn", "vec2patch", "decoder", "output"),
    ("#4e79a7", "#76b7b2", "#59a14f", "#e15759", "#f28e2b", "#edc948", "#b07aa1", "#9c755f", "#bab0ac"),
))
DSTT_GRAPH = GraphHintsRecord(
    depth=2,  # top-level modules' children: the transformer's blocks, each convolution of the encoders
    module_notes=(ModuleNote("hier_enc", "hierarchical encoder"), ModuleNote("patch2vec", "Patch2Vec (tokens)"),
                  ModuleNote("vec2patch", "Vec2Patch (Fold)"),
                  ModuleNote(_BLOCK, "temporal block", stage="temporal_attention"),
                  ModuleNote(_BLOCK, "spatial block", stage="spatial_attention")),
    op_notes=(
        OpNote(("aten.add",), "long skip: hier_enc + Vec2Patch", module=""),  # the root's one add
        OpNote(("aten.add",), "residual", module=_BLOCK),  # a block's two residual adds
        OpNote(("aten.cat",), "groups interleaved", module="hier_enc"),
        OpNote(("aten.bmm", "aten._softmax", "aten.div"), "attention matrix", square=True)),
)
DSTT_HINTS: dict[str, Any] = to_jsonable({"colours": DSTT_COLOURS, "quadratic_words": "temporal attention",
                                          "quadratic_headline": "temporal attention matrix", "graph": DSTT_GRAPH})


def config_json(config: dict[str, Any]) -> dict[str, Any]:
    """A run's `config` as the JSON holds it: a built-in DSTT run's sizes also flat, for older readers."""
    if config.get("model") != "dstt":
        return config
    args = config.get("model_args", {})
    return {**config, **{name: args[name] for name in DSTT_CONFIG_FIELDS if name in args}}


_TENSOR_PEAK = {"tensor_bytes": "bytes", "tensor_stage": "stage", "tensor_op": "op", "tensor_op_index": "op_index",
                "tensor_module": "module"}


def upgraded(run: Any, where: str) -> Any:
    """One run's JSON of any earlier schema as this one's types read it; what is not such a run, as it is.

    Flat DSTT sizes (a file from before any model could be profiled) fold into `model_args`, which must agree
    where both are given; a DSTT profile lacking the renderers' hints gets DSTT's; dstt-profile/1's `peak`
    holding both views (`tensor_bytes`, ...) is split into `peak` and `tensor_peak`, and its `measured.
    predicted_peak_bytes` (the tensor view) is `predicted_tensor_peak_bytes`."""
    if not isinstance(run, dict):
        return run
    run = dict(run)
    if isinstance(run.get("config"), dict):
        config = run["config"] = dict(run["config"])
        flat = {name: config.pop(name) for name in DSTT_CONFIG_FIELDS if name in config}
        if "model_args" in config:
            args = config["model_args"]
            for name, value in flat.items():
                if not isinstance(args, dict) or args.get(name) != value:
                    got = args.get(name) if isinstance(args, dict) else None
                    raise SchemaError(f"{where}.config.{name}", f"{value!r} differs from model_args.{name} {got!r}")
        else:
            config.setdefault("model", DSTT)
            config["model_args"] = {"attention": "matmul", "heads": 4, "zones": 2, "blocks": 8, "hidden": 512,
                                    "channel": 256, **flat}
            if "profile" not in run:
                stages = list(run["stages"]) if isinstance(run.get("stages"), dict) else []
                run["profile"] = {"name": DSTT, "title": "DSTT", "variant": f"{config['model_args']['attention']} attention",
                                  "stages": stages,
                                  "quadratic_stage": "temporal_attention" if "temporal_attention" in stages else ""}
    if isinstance(profile := run.get("profile"), dict):
        profile = {k: v for k, v in profile.items() if k != "blocks"}  # a field no renderer read, no longer written
        run["profile"] = {**DSTT_HINTS, **profile} if profile.get("name") == DSTT else profile
    peak = run.get("peak")
    if isinstance(peak, dict) and "tensor_peak" not in run and any(key in peak for key in _TENSOR_PEAK):
        run["tensor_peak"] = {"bytes": 0, "stage": "", "op": "", "op_index": -1, "module": "",
                              **{_TENSOR_PEAK[k]: v for k, v in peak.items() if k in _TENSOR_PEAK}}
        run["peak"] = {k: v for k, v in peak.items() if k not in _TENSOR_PEAK}
    measured = run.get("measured")
    if isinstance(measured, dict) and "predicted_peak_bytes" in measured:  # dstt-profile/1's name, tensor view
        run["measured"] = {("predicted_tensor_peak_bytes" if k == "predicted_peak_bytes" else k): v
                           for k, v in measured.items()}
    return run
