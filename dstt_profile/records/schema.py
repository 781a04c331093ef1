"""A result: its runs' records and a single run's scaling series, with a JSON round trip that validates
every field on the way in, so a saved JSON re-renders anywhere without the model (docs/json.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dstt_profile.errors import SchemaError, UsageError
from dstt_profile.records.codec import describe, from_jsonable, to_jsonable
from dstt_profile.records.figures import (
    BACKWARD,
    FVCORE_FAMILIES,
    ROOT_STAGE,
    CheckRecord,
    FlopsRecord,
    FvcoreRecord,
    MeasuredRecord,
    MemoryView,
    ModuleRecord,
    OpInput,
    OpRecord,
    PeakRecord,
    StageRecord,
    TensorInfo,
)
from dstt_profile.records.footprint import FootprintRecord, footprint
from dstt_profile.records.invariants import check_floors, check_run
from dstt_profile.records.legacy import config_json, upgraded
from dstt_profile.records.profilerecord import GraphHintsRecord, ModuleNote, OpNote, ProfileRecord
from dstt_profile.records.runconfig import MAX_FRAMES, RunConfig

# The contract's version; a file of an earlier one is read and upgraded (legacy.py), never refused.
SCHEMA = "dstt-profile/2"
EARLIER = ("dstt-profile/1",)
__all__ = ["BACKWARD", "ROOT_STAGE", "SCHEMA", "CheckRecord", "FlopsRecord", "FootprintRecord", "FvcoreRecord",
           "GraphHintsRecord", "MeasuredRecord", "ModuleNote", "ModuleRecord", "OpInput", "OpNote", "OpRecord",
           "PeakRecord", "MemoryView", "ProfileRecord", "Result", "RunRecord", "ScalingRecord", "StageRecord",
           "StageSeries", "TensorInfo", "config_json"]


@dataclass(frozen=True)
class RunRecord:
    config: RunConfig
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
    tensor_peak: PeakRecord = field(default_factory=lambda: PeakRecord(0, "", "", -1, ""))  # the tensor view's

    @property
    def frames(self) -> int:
        return self.config.frames

    def arg(self, name: str, default: Any = "") -> Any:
        return self.config.arg(name, default)

    @property
    def title(self) -> str:
        """The model's name in titles: the profile's, else the model reference."""
        return self.profile.title or self.config.model

    def fvcore_families(self) -> list[tuple[str, int, int]]:
        """(op family, our FLOPs, fvcore's multiply-adds) per family: each reconciles as ours == 2 x fvcore's."""
        fv = self.fvcore
        return [] if fv is None else [
            (family, sum(self.flops.by_op.get(op, 0) for op in ours), sum(fv.macs_by_op.get(op, 0) for op in theirs))
            for family, (ours, theirs) in FVCORE_FAMILIES.items()]

    @property
    def memory(self) -> MemoryView:
        """The memory view this run's figures are shown and gated in."""
        return MemoryView(self.config.memory)

    def peak_in(self, view: str) -> PeakRecord:
        return self.tensor_peak if view == MemoryView.TENSORS else self.peak

    @property
    def peak_view(self) -> PeakRecord:
        """The peak in this run's memory view (`peak` is always the allocator's)."""
        return self.peak_in(self.memory)

    def timeline_bytes(self, op: OpRecord) -> int:
        """One op's point on the memory timeline, in this run's view."""
        return op.live_bytes if self.memory == MemoryView.TENSORS else op.allocator_bytes


@dataclass(frozen=True)
class StageSeries:
    bytes: tuple[int, ...]  # headline tensor, one instance, bytes at the run's dtype
    flops: tuple[int, ...]  # conv / linear / matmul / attention FLOPs of every instance, 2 per multiply-add
    peak_bytes: tuple[int, ...]  # the most the allocator holds while the stage runs, bytes


@dataclass(frozen=True)
class ScalingRecord:
    """One configuration's exact figures at every t of `frames` (ascending): what the report's laws, plots
    and crossovers are drawn from. A single run's result stores the default sweep around its t here."""

    source: str  # how the points were obtained, a sentence
    frames: tuple[int, ...]
    stages: dict[str, StageSeries]  # stage -> its figures, in network order
    flops: tuple[int, ...]  # total FLOPs of the pass
    peak_bytes: tuple[int, ...]  # allocator peak, bytes above weights and input
    peak_stage: tuple[str, ...]  # stage of the allocator peak
    tensor_peak_bytes: tuple[int, ...]  # tensor peak, bytes
    tensor_peak_stage: tuple[str, ...]  # stage of the tensor peak

    def peaks(self, view: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """The peak's bytes and stage at each t, in the memory view `view`."""
        if view == MemoryView.TENSORS:
            return self.tensor_peak_bytes, self.tensor_peak_stage
        return self.peak_bytes, self.peak_stage

    def check(self, where: str = "scaling") -> None:
        """SchemaError unless every figure is in range, t ascends to at most MAX_FRAMES, one value per t."""
        check_floors(self, where)
        n = len(self.frames)
        if any(b <= a for a, b in zip(self.frames, self.frames[1:])):
            raise SchemaError(f"{where}.frames", "expected t in ascending order, each once")
        if self.frames and self.frames[-1] > MAX_FRAMES:
            raise SchemaError(f"{where}.frames", f"expected t of at most {MAX_FRAMES}, got {self.frames[-1]}")
        series = {k: getattr(self, k) for k in ("flops", "peak_bytes", "peak_stage", "tensor_peak_bytes", "tensor_peak_stage")}
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
        runs = [{**d, "config": config_json(r.config.to_dict())} for r, d in zip(self.runs, to_jsonable(self.runs))]
        return {"schema": self.schema, "meta": to_jsonable(self.meta), "runs": runs, "scaling": to_jsonable(self.scaling)}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Result:
        """A result from its JSON values: types, then what the figures mean (check_run); SchemaError names the field."""
        if not isinstance(data, dict) or data.get("schema") not in (SCHEMA, *EARLIER):
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise SchemaError("", f"not a {SCHEMA} result (schema: {found!r})")
        unknown = sorted(set(data) - {"schema", "meta", "runs", "scaling"})
        if unknown:
            raise SchemaError("", f"unknown field {unknown[0]!r}")
        if "runs" not in data:
            raise SchemaError("runs", "missing")
        if not isinstance(data["runs"], list):
            raise SchemaError("runs", f"expected a list, got {describe(data['runs'])}")
        runs = tuple(_run(upgraded(r, f"runs[{i}]"), f"runs[{i}]") for i, r in enumerate(data["runs"]))
        meta = data.get("meta", {})
        if not isinstance(meta, dict):
            raise SchemaError("meta", f"expected an object, got {describe(meta)}")
        scaling = from_jsonable(ScalingRecord, data["scaling"], "scaling") if data.get("scaling") is not None else None
        if scaling is not None:
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
        """A saved result: OSError when unreadable, json.JSONDecodeError when not JSON, else SchemaError (a ValueError)."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


# A run's configuration must name at least these; the rest take RunConfig's defaults.
CONFIG_REQUIRED = ("frames", "height", "width", "dtype")


def _run(data: Any, where: str) -> RunRecord:
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        raw = dict(data["config"])
        if isinstance(raw.get("model_args"), dict):
            raw["model_args"] = [[k, v] for k, v in raw["model_args"].items()]
        try:
            data = {**data, "config": from_jsonable(RunConfig, raw, f"{where}.config", required=CONFIG_REQUIRED)}
        except UsageError as exc:
            raise SchemaError(f"{where}.config", str(exc)) from None
    record = from_jsonable(RunRecord, data, where)
    check_run(record, where)
    if not record.footprint.total:  # a result saved before footprints were
        fp = footprint(record.config, record.params, record.param_bytes, record.input_bytes, record.peak.bytes)
        record = replace(record, footprint=fp)
    return record
