"""OpenVINO's real run of a run's IR on the CPU: compiled with the inference precision pinned (f32, bf16 for a
bfloat16 run), the LATENCY hint and the run's threads, per-node counters on; one warm-up and `repeats` timed
inferences in a child process (child.py), whose RSS high-water mark above its baseline is OpenVINO's memory:
there is no per-layer memory to read. Times per stage come from the per-node profiling info."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dstt_profile.engine.contain import UserExit, user_code
from dstt_profile.engine.threads import thread_count
from dstt_profile.errors import TraceError, UsageError
from dstt_profile.openvino.compare import NOT_FINITE, output_differences
from dstt_profile.openvino.convert import Converted, module_of, stage_for
from dstt_profile.records.openvino import OpenVinoMeasuredRecord
from dstt_profile.records.runconfig import RunConfig

CHILD = Path(__file__).with_name("child.py")
PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}  # --dtype -> INFERENCE_PRECISION_HINT
PERFORMANCE_HINT = "LATENCY"


def precision_for(run: RunConfig) -> str:
    if run.dtype not in PRECISIONS:
        raise UsageError(f"--runtime openvino pins an inference precision of {' or '.join(PRECISIONS)}, "
                         f"not --dtype {run.dtype}")
    return PRECISIONS[run.dtype]


def compile_config(run: RunConfig) -> dict[str, Any]:
    """What the IR is compiled with: the run's precision and threads, latency first, per-node counters on."""
    return {"INFERENCE_PRECISION_HINT": precision_for(run), "PERFORMANCE_HINT": PERFORMANCE_HINT,
            "INFERENCE_NUM_THREADS": run.threads, "PERF_COUNT": True}


def stage_seconds(nodes: Sequence[Mapping[str, float]], stage_of: Callable[[str], str | None]) -> dict[str, float]:
    """Median seconds per stage over the timed inferences, each node in its module's stage (GLUE: none)."""
    per_stage: dict[str, list[float]] = defaultdict(list)
    stages = {name: stage_for(module_of(name), stage_of) for inference in nodes for name in inference}
    for inference in nodes:
        summed: dict[str, float] = defaultdict(float)
        for name, seconds in inference.items():
            summed[stages[name]] += seconds
        for stage in dict.fromkeys(stages.values()):  # in the order the nodes first ran
            per_stage[stage].append(summed.get(stage, 0.0))
    return {stage: statistics.median(values) for stage, values in per_stage.items()}


def reference_output(run: RunConfig, converted: Converted, program: str) -> Any:
    """PyTorch's output of the run's model on the input the IR is run on."""
    try:
        with thread_count(run.threads), user_code(program), torch.no_grad():
            return converted.model(*converted.inputs)
    except UserExit as exc:
        raise TraceError(f"the model's forward pass {exc}") from None


def _child(spec: dict[str, Any], folder: Path) -> dict[str, Any]:
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", str(CHILD), str(spec_path)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise TraceError(f"OpenVINO's run failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
    answer: dict[str, Any] = json.loads(Path(spec["answer"]).read_text(encoding="utf-8"))
    return answer


def measure(run: RunConfig, xml: Path, converted: Converted, repeats: int, stage_of: Callable[[str], str | None],
            program: str = "") -> OpenVinoMeasuredRecord:
    """OpenVINO's run of the IR at `xml` on the converted model's input, beside PyTorch's output on it."""
    config = compile_config(run)
    reference = reference_output(run, converted, program)
    with tempfile.TemporaryDirectory(prefix="dstt-profile-openvino-") as tmp:
        folder = Path(tmp)
        paths = []
        for i, value in enumerate(converted.inputs):
            path = folder / f"input{i}.npy"
            np.save(path, (value.float() if value.is_floating_point() else value).cpu().numpy())
            paths.append(str(path))
        answer = _child({"xml": str(xml), "inputs": paths, "config": config, "repeats": repeats, "out": tmp,
                         "answer": str(folder / "answer.json")}, folder)
        outputs = [np.load(path) for path in answer["outputs"]]
    diffs = output_differences(reference, outputs)
    nodes: list[dict[str, float]] = answer["nodes"]
    return OpenVinoMeasuredRecord(
        device="CPU", precision=config["INFERENCE_PRECISION_HINT"], executed_precision=answer["executed_precision"],
        performance_hint=answer["performance_hint"].rpartition(".")[2], threads=answer["threads"], repeats=repeats,
        compile_seconds=answer["compile_seconds"], warmup_seconds=answer["warmup_seconds"],
        infer_seconds=answer["infer_seconds"], node_seconds=statistics.median(sum(n.values()) for n in nodes),
        stage_seconds=stage_seconds(nodes, stage_of), nodes_executed=max(len(n) for n in nodes),
        rss_baseline_bytes=answer["rss_baseline_bytes"], rss_peak_bytes=answer["rss_peak_bytes"],
        rss_reset=answer["rss_reset"], output_max_abs_diff=diffs, max_abs_diff=NOT_FINITE if NOT_FINITE in diffs else max(diffs, default=0.0))
