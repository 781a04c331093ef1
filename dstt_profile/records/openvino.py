"""The `--runtime openvino` figures of a result, kept in its `meta.openvino` (docs/openvino.md): each run's
OpenVINO IR stage by stage beside PyTorch's headline tensors, and with --measure OpenVINO's own time per
stage, its peak RSS above a stated baseline and how far its outputs are from PyTorch's on the same input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dstt_profile.errors import SchemaError
from dstt_profile.records.codec import from_jsonable, to_jsonable

META_KEY = "openvino"  # the key of `Result.meta` that holds an OpenVinoRecord
GLUE = "glue"  # IR layers and compiled nodes that name no stage's module


@dataclass(frozen=True)
class OpenVinoStageRecord:
    """One stage: PyTorch's headline tensor and the IR layer output compared with it."""

    name: str
    layers: int  # the IR's computing layers in the stage (constants, inputs, outputs and shape arithmetic aside)
    pytorch_shape: tuple[int, ...]
    pytorch_elements: int
    pytorch_module: str  # where PyTorch read the headline (its first instance)
    ir_layer: str  # the IR layer whose output is the IR's headline ("" where the IR holds none)
    ir_shape: tuple[int, ...]
    ir_elements: int
    agree: bool  # the two headlines' shapes are equal
    difference: str  # what differs, one sentence; "" where they agree


@dataclass(frozen=True)
class OpenVinoMeasuredRecord:
    """OpenVINO's own real run on the CPU, in a child process (the PyTorch side is the run's `measured`)."""

    device: str  # "CPU"
    precision: str  # the INFERENCE_PRECISION_HINT asked for: f32, or bf16 for --dtype bfloat16
    executed_precision: str  # what the compiled model reports it infers at (a CPU without bf16 says f32)
    performance_hint: str  # "LATENCY"
    threads: int  # INFERENCE_NUM_THREADS
    repeats: int  # timed inferences after one warm-up
    compile_seconds: float
    warmup_seconds: float  # the first inference
    infer_seconds: float  # median wall time of one timed inference
    node_seconds: float  # median of the executed nodes' real times, summed
    stage_seconds: dict[str, float]  # median per stage of the per-node real times
    nodes_executed: int
    rss_baseline_bytes: int  # the child's RSS before the IR is read and compiled
    rss_peak_bytes: int  # its high-water mark (VmHWM) after the inferences
    rss_reset: bool  # the high-water mark was reset at the baseline; else it may hold start-up's peak too
    output_max_abs_diff: tuple[float, ...]  # per output tensor, against PyTorch on the same input
    max_abs_diff: float

    @property
    def rss_above_baseline_bytes(self) -> int:
        return max(0, self.rss_peak_bytes - self.rss_baseline_bytes)


@dataclass(frozen=True)
class OpenVinoRunRecord:
    """One run (one t): its IR files, its stages side by side, and with --measure the real run."""

    frames: int
    xml: str  # the IR's paths as written
    bin: str
    bin_bytes: int
    layers: int
    glue_layers: int  # computing layers whose node name names no stage's module (the running stage's)
    convert_seconds: float
    stages: tuple[OpenVinoStageRecord, ...]
    measured: OpenVinoMeasuredRecord | None = None

    @property
    def agree(self) -> bool:
        return all(s.agree for s in self.stages)


@dataclass(frozen=True)
class OpenVinoRecord:
    version: str  # openvino.__version__
    grouping: str  # how the IR's layers were put in stages and its headlines found, a sentence
    runs: tuple[OpenVinoRunRecord, ...] = field(default_factory=tuple)

    def run_at(self, frames: int) -> OpenVinoRunRecord | None:
        return next((r for r in self.runs if r.frames == frames), None)


def to_meta(record: OpenVinoRecord) -> dict[str, Any]:
    """The record as the JSON value `meta.openvino` holds."""
    value = to_jsonable(record)
    assert isinstance(value, dict)
    return value


def from_meta(meta: Mapping[str, Any]) -> OpenVinoRecord | None:
    """The record a result's `meta` holds, None where it holds none; SchemaError naming the field if malformed."""
    if META_KEY not in meta:
        return None
    record = from_jsonable(OpenVinoRecord, meta[META_KEY], f"meta.{META_KEY}")
    for i, run in enumerate(record.runs):
        where = f"meta.{META_KEY}.runs[{i}]"
        if run.frames < 1 or run.layers < 0 or run.glue_layers < 0 or run.bin_bytes < 0:
            raise SchemaError(where, "expected t of at least 1 and no negative count")
        m = run.measured
        if m is not None and (m.rss_baseline_bytes < 0 or m.rss_peak_bytes < 0 or m.repeats < 1):
            raise SchemaError(f"{where}.measured", "expected RSS figures of at least 0 and a repeat")
    return record
