"""Records: what a run found, as plain frozen data with a JSON round trip (`schema: dstt-profile/1`).

Renderers and analyses read these and never the model, so a saved JSON re-renders anywhere.
Units: bytes are bytes at the run's dtype (see `RunRecord.config["dtype"]`); FLOPs count 2 per
multiply-add (torch's FlopCounterMode convention); fvcore's figures are multiply-adds and say so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dstt_profile.errors import SchemaError
from dstt_profile.records.codec import check_floors, describe, from_jsonable, to_jsonable
from dstt_profile.records.invariants import check_run, floor
from dstt_profile.records.legacy import fill_hints

# The public contract grows and never breaks, so the version stays 1: fields are added, none renamed or removed.
SCHEMA = "dstt-profile/1"
# The built-in DSTT's sizes, configuration fields before any model could be profiled. In memory they are
# model arguments; a built-in DSTT run's JSON `config` still carries them flat as well (`config_json`).
DSTT_CONFIG_FIELDS = ("attention", "heads", "zones", "blocks", "hidden", "channel")
# The stage of every op of the backward pass (train mode), where no module runs; reserved: a model's own
# stage of that name is renamed (profiles/base.py, user_stages).
BACKWARD = "backward"


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class OpInput:
    """One tensor an op reads: the op that produced its data, and the tensor as the op reads it.

    The producer is the op that last wrote the storage the tensor reads: a view (`view`, `permute`,
    `expand`, ...) is looked through to the op whose data it shows, and an in-place op is the writer of
    what it changed. -1: data that exists before the pass (a parameter, a buffer, the model input)."""

    producer: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class OpRecord:
    """One aten op of the traced pass, in execution order."""

    index: int
    op: str  # torch's name, aten.<name>
    module: str  # innermost module running it, "" the root
    stage: str
    outputs: tuple[TensorInfo, ...]
    alloc_bytes: int  # bytes of new storage this op's outputs hold (views and in-place ops: 0)
    freed_bytes: int  # bytes released since the previous op
    live_bytes: int  # bytes held by tensors allocated during the pass, right after this op
    flops: int  # conv / linear / matmul / attention FLOPs, torch's formulas (2 per multiply-add)
    other_flops: int  # elementwise, softmax, norm: this toolkit's stated costs (costs.py)
    # The allocator view (see docs/memory.md): bytes the allocator holds for storages allocated during
    # the pass right after this op, at their real sizes; and what the op holds inside itself on top of
    # that at its highest point (convolution workspaces, temporaries), released before it returns.
    held_bytes: int = 0
    transient_bytes: int = 0
    rules: str = ""  # the device rules and calibrations that changed this op's figures, comma-separated
    rule_params: tuple[int, ...] = ()  # what the op's temporary rule was computed from (devicerules.py)
    rule_transient: int = 0  # the part of `transient_bytes` that rule gives
    inputs: tuple[OpInput, ...] = ()  # tensor inputs in argument order, each with the op that produced it

    @property
    def producers(self) -> tuple[int, ...]:
        """The ops whose data this op reads, once each in argument order (-1, data from before the pass, left out)."""
        return tuple(dict.fromkeys(i.producer for i in self.inputs if i.producer >= 0))

    @property
    def allocator_bytes(self) -> int:
        """The most the allocator holds while this op runs (held + transient)."""
        return self.held_bytes + self.transient_bytes


@dataclass(frozen=True)
class ModuleRecord:
    """One module's first call. FLOPs and allocations include its submodules."""

    name: str  # fully qualified, "" the root
    type: str
    stage: str
    depth: int
    order: int  # position in call order
    calls: int
    params: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    flops: int
    other_flops: int
    alloc_bytes: int
    first_op: int
    last_op: int


@dataclass(frozen=True)
class StageRecord:
    """A stage: its headline tensor (per instance), FLOPs (all instances) and its formula check."""

    name: str
    shape: tuple[int, ...]
    elements: int
    bytes: int
    flops: int
    other_flops: int
    instances: int
    share: float  # of total FLOPs
    alloc_bytes: int  # all storage allocated by the stage's ops, all instances
    peak_bytes: int  # the most the allocator holds while the stage runs (allocator view), bytes
    headline: str  # what the headline tensor is
    module: str  # where it was read (first instance)
    materialised: bool  # False where a fused kernel never builds the usual headline tensor
    formula: str  # general, in docs/architecture.md's symbols
    formula_substituted: str  # the run's constants substituted
    formula_elements: int
    match: bool


@dataclass(frozen=True)
class PeakRecord:
    """The peak of the pass, in the allocator view (`bytes`, the headline) and the tensor view.

    Allocator view: the most the device's allocator holds during the pass above what it held before
    (weights and input excluded): storages at their real sizes plus what the running op holds inside
    itself (workspaces, temporaries). Tensor view: bytes the live tensors need, nothing else."""

    bytes: int
    stage: str
    op: str
    op_index: int
    module: str
    tensor_bytes: int = 0
    tensor_stage: str = ""
    tensor_op: str = ""
    tensor_op_index: int = -1
    tensor_module: str = ""
    transient_bytes: int = 0  # held inside the peak op (workspace, temporaries), part of `bytes`
    basis: str = ""  # what the allocator view includes for this run's device, in words

    def view(self, memory: str) -> tuple[int, str, str, int, str]:
        """(bytes, stage, op, op index, module) of the peak in the view `memory` (allocator | tensors)."""
        if memory == "tensors":
            return self.tensor_bytes, self.tensor_stage, self.tensor_op, self.tensor_op_index, self.tensor_module
        return self.bytes, self.stage, self.op, self.op_index, self.module


@dataclass(frozen=True)
class PeakView:
    """The peak in one memory view, with the view's name: what a figure shown to a user is."""

    view: str  # allocator | tensors
    bytes: int
    stage: str
    op: str
    op_index: int
    module: str

    @property
    def label(self) -> str:
        return "allocator peak" if self.view == "allocator" else "tensor peak (tensors only: no workspaces, storages at tensor size)"


@dataclass(frozen=True)
class FootprintRecord:
    """The whole memory the pass needs on its device, by part (footprint.py says how each is found).

    `total == weights + input + activations + optimizer + context`, exactly. `activations` is the
    allocator peak of the pass (`PeakRecord.bytes`); in train mode it already holds the gradients and
    the activations saved for backward that are alive at that op (`gradients_in_peak`,
    `saved_in_peak`: parts of `activations`, never added again; -1 where they were not split)."""

    total: int = 0
    mode: str = "inference"  # train: forward + backward, with optimizer state
    weights: int = 0
    input: int = 0
    activations: int = 0
    optimizer: int = 0  # optimizer state kept between steps (train mode)
    optimizer_name: str = "none"
    context: int = 0  # the CUDA context: an assumed allowance (footprint.CUDA_CONTEXT_BYTES), 0 on CPU
    gradients_in_peak: int = -1
    saved_in_peak: int = -1


@dataclass(frozen=True)
class FlopsRecord:
    total: int
    by_op: dict[str, int]
    other_total: int
    other_by_op: dict[str, int]
    unsupported: dict[str, int]  # ops with no cost function: name -> calls


@dataclass(frozen=True)
class CheckRecord:
    """A measured figure against its analytic formula, exactly (integers)."""

    name: str
    formula: str
    formula_substituted: str
    expected: int
    measured: int
    unit: str

    @property
    def passed(self) -> bool:
        return self.expected == self.measured


@dataclass(frozen=True)
class FvcoreRecord:
    """fvcore's independent count on real tensors. Its unit is multiply-adds."""

    macs_total: int
    macs_by_op: dict[str, int]
    macs_by_module: dict[str, int]
    activations_total: int
    unsupported: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class MeasuredRecord:
    """A real run beside the fake-tensor prediction of the same configuration (`--measure`).

    Two peaks are predicted (both are in `RunRecord.peak`). The tensor peak counts the bytes live
    tensors need. The allocator peak counts storages at their real sizes and what kernels allocate and
    free inside one op (oneDNN's reorders of a convolution's input, weight or output on CPU, calibrated
    per convolution on this machine). The measured peak is the allocator's net allocation peak during
    the forward pass. Errors are (predicted - measured) / measured, in %.
    """

    device: str
    method: str  # how the measured peak was read
    measured_peak_bytes: int
    predicted_peak_bytes: int  # tensor peak, fake tensors
    predicted_allocator_peak_bytes: int  # storages at real size + op temporaries + kernel workspaces
    allocator_peak_op: str
    allocator_peak_module: str
    allocator_peak_stage: str
    workspace_at_peak_bytes: int
    peak_error_pct: float  # allocator prediction vs measured
    tensor_peak_error_pct: float  # tensor peak vs measured
    real_tensor_peak_bytes: int  # the op recorder's tensor peak on the real run (equals the prediction)
    headline_elements: dict[str, int]  # measured on the real run, per stage
    headline_error_pct: dict[str, float]
    workspaces: dict[str, int]  # convolution module -> workspace bytes at this run's batch
    forward_seconds: float  # median over `repeats` timed runs after a warm-up
    stage_seconds: dict[str, float]  # median per stage (time inside the stage's modules)
    repeats: int
    rss_before_bytes: int  # process RSS before the real runs
    rss_peak_bytes: int  # the process's peak RSS after them


@dataclass(frozen=True)
class ModuleNote:
    """A few words shown beside the layer graph's box of every module whose name fully matches the
    regular expression `module` and, where `stage` is not "", that belongs to `stage`. A module takes
    the first note of the list that matches it."""

    module: str
    words: str
    stage: str = ""


@dataclass(frozen=True)
class OpNote:
    """A few words shown beside the layer graph's box of every forward op named in `ops` (aten names)
    that runs directly in a module fully matching the regular expression `module` ("" the root); with
    `square`, only an op whose output's last two dimensions are equal and above 1 (an attention matrix).
    An op takes the first note of the list that matches it."""

    ops: tuple[str, ...]
    words: str
    module: str = ".*"
    square: bool = False


@dataclass(frozen=True)
class GraphHintsRecord:
    """A profile's wording for its layer graph, never its structure: the depth drawn first and
    exported (1: the top-level modules), and notes for modules and ops."""

    depth: int = 1
    module_notes: tuple[ModuleNote, ...] = ()
    op_notes: tuple[OpNote, ...] = ()


@dataclass(frozen=True)
class ProfileRecord:
    """What the renderers know of the model's profile, so a saved result re-renders without the model.

    `stages` in network order; `quadratic_stage` the stage whose headline tensor grows with t^2 (the
    plots mark where it becomes the largest; "" where none does), `quadratic_words` that stage in words
    ("temporal attention") and `quadratic_headline` its headline tensor in words ("temporal attention
    matrix"), both "" for the stage's name; `blocks` the container module of repeated blocks ("" where
    there is none); `colours` stage -> colour (stages not named take a neutral palette in stage order);
    `graph` the layer graph's depth and notes; `variant` words for the model arguments shown in titles
    ("matmul attention"); `note` how the profile was chosen."""

    name: str = ""
    title: str = ""
    variant: str = ""
    stages: tuple[str, ...] = ()
    quadratic_stage: str = ""
    blocks: str = ""
    colours: dict[str, str] = field(default_factory=dict)
    note: str = ""
    quadratic_words: str = ""
    quadratic_headline: str = ""
    graph: GraphHintsRecord = field(default_factory=GraphHintsRecord)

    @property
    def quadratic_name(self) -> str:
        """The t^2 stage in words: `quadratic_words`, else the stage's name ("" where there is none)."""
        return self.quadratic_words or self.quadratic_stage

    @property
    def quadratic_tensor(self) -> str:
        """The t^2 stage's headline tensor in words: `quadratic_headline`, else "<stage> headline tensor"."""
        if self.quadratic_headline or not self.quadratic_stage:
            return self.quadratic_headline
        return f"{self.quadratic_stage} headline tensor"


@dataclass(frozen=True)
class RunRecord:
    config: dict[str, Any]
    params: int
    flops: FlopsRecord
    peak: PeakRecord
    stages: dict[str, StageRecord]
    checks: tuple[CheckRecord, ...] = ()
    modules: tuple[ModuleRecord, ...] = ()
    ops: tuple[OpRecord, ...] = ()
    kernels: dict[str, str] = field(default_factory=dict)  # attention stage -> aten op that ran it
    fvcore: FvcoreRecord | None = None
    measured: MeasuredRecord | None = None
    input_bytes: int = 0
    param_bytes: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    footprint: FootprintRecord = field(default_factory=FootprintRecord)  # total 0: a result saved before it
    profile: ProfileRecord = field(default_factory=ProfileRecord)

    @property
    def frames(self) -> int:
        return int(self.config["frames"])

    def arg(self, name: str, default: Any = "") -> Any:
        """A model argument of this run (`config["model_args"]`), or `default`."""
        return self.config.get("model_args", {}).get(name, default)

    @property
    def title(self) -> str:
        """The model's name in titles: the profile's, else the model reference."""
        return self.profile.title or str(self.config.get("model", ""))

    @property
    def memory(self) -> str:
        """The memory view this run's figures are shown and gated in: allocator (default) or tensors."""
        return str(self.config.get("memory", "allocator"))

    @property
    def peak_view(self) -> PeakView:
        """The peak in this run's memory view (`peak.bytes` is always the allocator's)."""
        return PeakView(self.memory, *self.peak.view(self.memory))

    def timeline_bytes(self, op: OpRecord) -> int:
        """What one op's point on the memory timeline is, in this run's view."""
        return op.live_bytes if self.memory == "tensors" else op.allocator_bytes


@dataclass(frozen=True)
class StageSeries:
    """One stage's figures at each t of a `ScalingRecord`, in the order of its `frames`."""

    bytes: tuple[int, ...]  # headline tensor, one instance, bytes at the run's dtype
    flops: tuple[int, ...]  # conv / linear / matmul / attention FLOPs of every instance, 2 per multiply-add
    peak_bytes: tuple[int, ...]  # the most the allocator holds while the stage runs, bytes


@dataclass(frozen=True)
class ScalingRecord:
    """What the report's scaling laws, plots and crossovers are drawn from: one configuration's figures
    at every t of `frames` (ascending), each exact, and how they were obtained.

    A sweep's report draws them from its own runs; a single run's report from the default sweep around
    its t that the main job derives and stores here, so a saved result re-renders the same report."""

    source: str  # how the points were obtained, a sentence
    frames: tuple[int, ...]
    stages: dict[str, StageSeries]  # stage -> its figures, in network order
    flops: tuple[int, ...]  # total FLOPs of the pass
    peak_bytes: tuple[int, ...]  # allocator peak, bytes above weights and input
    peak_stage: tuple[str, ...]  # stage of the allocator peak
    tensor_peak_bytes: tuple[int, ...]  # tensor peak, bytes
    tensor_peak_stage: tuple[str, ...]  # stage of the tensor peak

    def check(self, where: str = "scaling") -> None:
        """SchemaError unless t ascends within what a run may ask for and every series holds one value per t."""
        from dstt_profile.records.runconfig import MAX_FRAMES

        n = len(self.frames)
        if any(b <= a for a, b in zip(self.frames, self.frames[1:])):
            raise SchemaError(f"{where}.frames", "expected t in ascending order, each once")
        if self.frames and self.frames[-1] > MAX_FRAMES:
            raise SchemaError(f"{where}.frames", f"expected t of at most {MAX_FRAMES}, got {self.frames[-1]}")
        series = {
            "flops": self.flops,
            "peak_bytes": self.peak_bytes,
            "peak_stage": self.peak_stage,
            "tensor_peak_bytes": self.tensor_peak_bytes,
            "tensor_peak_stage": self.tensor_peak_stage,
        }
        for stage, s in self.stages.items():
            series.update({f"stages.{stage}.{k}": getattr(s, k) for k in ("bytes", "flops", "peak_bytes")})
        for name, values in series.items():
            if len(values) != n:
                raise SchemaError(f"{where}.{name}", f"expected {n} values (one per t), got {len(values)}")


@dataclass(frozen=True)
class Result:
    runs: tuple[RunRecord, ...]
    schema: str = SCHEMA
    meta: dict[str, Any] = field(default_factory=dict)
    scaling: ScalingRecord | None = None  # a single run's scaling series; None: a sweep's come from its runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "meta": to_jsonable(self.meta),
            "runs": [{**run, "config": config_json(run["config"])} for run in to_jsonable(self.runs)],
            "scaling": to_jsonable(self.scaling),
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Result:
        """A result from its JSON values, validated field by field, types and then what the figures
        mean (check_run: no negative count, indexes in range, ...), SchemaError naming the field."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise SchemaError("", f"not a {SCHEMA} result (schema: {found!r})")
        unknown = sorted(set(data) - {"schema", "meta", "runs", "scaling"})
        if unknown:
            raise SchemaError("", f"unknown field {unknown[0]!r}")
        if "runs" not in data:
            raise SchemaError("runs", "missing")
        if not isinstance(data["runs"], list):
            raise SchemaError("runs", f"expected a list, got {describe(data['runs'])}")
        runs = tuple(_run(fill_hints(_with_model(r, f"runs[{i}]")), f"runs[{i}]") for i, r in enumerate(data["runs"]))
        meta = data.get("meta", {})
        if not isinstance(meta, dict):
            raise SchemaError("meta", f"expected an object, got {describe(meta)}")
        scaling = from_jsonable(ScalingRecord, data["scaling"], "scaling") if data.get("scaling") is not None else None
        if scaling is not None:
            check_floors(scaling, floor, "scaling")
            scaling.check()
        return cls(runs=runs, schema=SCHEMA, meta=dict(meta), scaling=scaling)

    @classmethod
    def from_json(cls, text: str) -> Result:
        try:
            data = json.loads(text)
        except RecursionError:
            raise SchemaError("", "nested too deeply") from None
        return cls.from_dict(data)

    def same_t(self) -> tuple[int, int] | None:
        """The positions of the first two runs at one t, None where every t appears once (a sweep)."""
        seen: dict[int, int] = {}
        for i, run in enumerate(self.runs):
            if run.frames in seen:
                return seen[run.frames], i
            seen[run.frames] = i
        return None

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """A saved result. OSError when it cannot be read, json.JSONDecodeError when it is not JSON,
        SchemaError (a ValueError) naming the field when it is not a valid result."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


# A run's configuration must name at least these; the rest take RunConfig's defaults.
CONFIG_REQUIRED = ("frames", "height", "width", "dtype")


def config_json(config: dict[str, Any]) -> dict[str, Any]:
    """A run's `config` as the JSON holds it: a built-in DSTT run's sizes also flat, where readers of
    results written before `model_args` existed find them."""
    if config.get("model") != "dstt":
        return config
    args = config.get("model_args", {})
    return {**config, **{name: args[name] for name in DSTT_CONFIG_FIELDS if name in args}}


def _with_model(data: Any, where: str) -> Any:
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
        "blocks": "transformer",
    }
    return {**data, "config": config, "profile": profile}


def _run(data: Any, where: str) -> RunRecord:
    """One run: the record types, then its configuration against RunConfig and its rules."""
    from dstt_profile.errors import UsageError
    from dstt_profile.records.runconfig import RunConfig

    record = from_jsonable(RunRecord, data, where)
    check_run(record, where)
    at = f"{where}.config"
    raw = dict(record.config)
    if isinstance(raw.get("model_args"), dict):
        raw["model_args"] = [[k, v] for k, v in raw["model_args"].items()]
    try:
        config = from_jsonable(RunConfig, raw, at, required=CONFIG_REQUIRED)
    except UsageError as exc:
        raise SchemaError(at, str(exc)) from None
    return replace(record, config=config.to_dict())
