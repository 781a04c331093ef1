"""OpenVINO's real run of one IR, in a process of its own so that its resident memory is its own to measure.

Started by measure.py as `python -I child.py SPEC.json`, never imported: it imports nothing of dstt_profile
(whose import would bring torch into the baseline). The spec names the IR, the input arrays (.npy), the
compile configuration, the repeats and where to write; the answer (JSON, beside the spec) holds the
baseline RSS before the IR is read, the high-water mark after the inferences, the times and each executed
node's real time per timed inference, and the output arrays' files.
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

KIB = 1024


def status_bytes(field: str) -> int:
    """A memory figure of /proc/self/status (VmRSS, VmHWM), in bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * KIB
    raise OSError(f"/proc/self/status has no {field}")


def reset_high_water_mark() -> bool:
    """Set VmHWM to the current RSS (Linux: 5 to /proc/self/clear_refs); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def node_times(request: Any, executed: Any) -> dict[str, float]:
    """Seconds per executed node of the last inference (a name met twice: summed)."""
    out: dict[str, float] = {}
    for info in request.get_profiling_info():
        if info.status == executed:
            out[info.node_name] = out.get(info.node_name, 0.0) + info.real_time.total_seconds()
    return out


def run(spec: dict[str, Any]) -> dict[str, Any]:
    ov = importlib.import_module("openvino")
    inputs = [np.load(path) for path in spec["inputs"]]
    reset = reset_high_water_mark()
    baseline = status_bytes("VmRSS")
    core = ov.Core()
    started = time.perf_counter()
    compiled = core.compile_model(core.read_model(spec["xml"]), "CPU", spec["config"])
    compile_seconds = time.perf_counter() - started
    request = compiled.create_infer_request()
    started = time.perf_counter()
    request.infer(inputs)
    warmup = time.perf_counter() - started
    executed = ov.ProfilingInfo.Status.EXECUTED
    seconds, nodes = [], []
    for _ in range(spec["repeats"]):
        started = time.perf_counter()
        request.infer(inputs)
        seconds.append(time.perf_counter() - started)
        nodes.append(node_times(request, executed))
    peak = max(status_bytes("VmHWM"), status_bytes("VmRSS"))
    outputs = []
    for i in range(len(compiled.outputs)):
        path = Path(spec["out"]) / f"output{i}.npy"
        np.save(path, np.array(request.get_output_tensor(i).data, copy=True))
        outputs.append(str(path))
    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    return {"rss_baseline_bytes": baseline, "rss_peak_bytes": peak, "rss_reset": reset,
            "compile_seconds": compile_seconds, "warmup_seconds": warmup, "infer_seconds": statistics.median(seconds),
            "executed_precision": str(precision.get_type_name()), "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")), "nodes": nodes, "outputs": outputs}


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    answer = run(spec)
    Path(spec["answer"]).write_text(json.dumps(answer), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
