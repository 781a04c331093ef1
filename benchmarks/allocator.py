"""Benchmark: the default prediction (allocator view, nothing run at the target size) against the CPU
allocator's measured peak, and what the main job costs with a warm and a cold workspace cache.

    .venv/bin/python benchmarks/allocator.py [--write benchmarks/ALLOCATOR.md] [--quick]

Cases cover the built-in DSTT and two models loaded by path with `--model` (a stand-in for the released
generator file, and a small video model). Each case runs `dstt-profile --measure` in a fresh process: its JSON holds the default prediction
(`peak.bytes`, from fake tensors and the calibrated workspaces) and the allocator's net peak during a
real forward pass (torch.profiler memory events). The main job is timed from process start to files
written, with this machine's workspace cache in place (warm) and with an empty one (cold: every
convolution is calibrated first).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TARGET_PCT = 0.5


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return time.perf_counter() - started, proc.returncode


# Users' own code, profiled by path: a stand-in for the released generator file (its module names and
# forward; it imports `core`, found through --model-path) and a small video model of different stages.
MODELS = ROOT / "tests" / "models"
RELEASED = ["--model", str(MODELS / "released_model" / "dstt.py") + ":InpaintGenerator",
            "--model-path", str(MODELS / "released")]
TINY = ["--model", str(MODELS / "tinyvideo.py") + ":TinyVideoNet"]


def case(t: int, attention: str, res: str, out: Path, model: str = "built-in DSTT",
         model_options: tuple[str, ...] = ()) -> dict[str, Any]:
    target = out / f"{model.replace(' ', '_')}_{attention}_{res}_{t}"
    variant = list(model_options) if model_options else ["--attention", attention]
    cmd = [PY, "-m", "dstt_profile", "--frames", str(t), "--res", res, *variant, "--measure",
           "--repeats", "1", "--format", "json", "--out", str(target), "--quiet"]
    seconds, _ = _run(cmd)
    run = json.loads(next(target.glob("*.json")).read_text(encoding="utf-8"))["runs"][0]
    m = run["measured"]
    predicted, measured = run["peak"]["bytes"], m["measured_peak_bytes"]
    return {
        "model": model,
        "t": t,
        "attention": attention,
        "res": res,
        "predicted": predicted,
        "measured": measured,
        "error": 100.0 * (predicted - measured) / measured,
        "tensor": run["peak"]["tensor_bytes"],
        "where": f"{run['peak']['op']} in {run['peak']['module']}",
        "seconds": seconds,
    }


def main_job(env: dict[str, str], out: Path) -> float:
    cmd = [PY, "-m", "dstt_profile", "--frames", "14", "--res", "240x432", "--out", str(out), "--quiet"]
    return _run(cmd, env)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="timings only, no measured cases")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lines = [
        "# Allocator view: predicted against measured",
        "",
        f"Measured {dt.date.today().isoformat()} by `benchmarks/allocator.py` on {os.cpu_count()} cores, "
        "torch 2.13.0 CPU build (oneDNN convolutions).",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        warm_env = dict(os.environ)
        main_job(warm_env, out)  # make sure this machine's cache holds the main job's convolutions
        warm = statistics.median(main_job(warm_env, out) for _ in range(args.repeat))
        colds = []
        for i in range(args.repeat):
            cold_env = {**os.environ, "DSTT_PROFILE_CACHE": str(out / f"empty{i}")}
            colds.append(main_job(cold_env, out))
        cold = statistics.median(colds)
        lines += [
            "| main job, `dstt-profile --frames 14 --res 240x432` | seconds (median) |",
            "|---|---|",
            f"| warm workspace cache | {warm:.2f} |",
            f"| cold: empty cache, every convolution calibrated first | {cold:.2f} |",
            "",
        ]
        if not args.quick:
            cases = [case(t, a, "240x432", out) for a in ("matmul", "sdpa") for t in (1, 2, 4, 8, 14)]
            cases += [case(t, a, "480x864", out) for a in ("matmul", "sdpa") for t in (1, 2)]
            cases += [case(t, "matmul", "240x432", out, "released-file stand-in", tuple(RELEASED)) for t in (1, 2)]
            cases += [case(t, "-", "64x64", out, "small video model", tuple(TINY)) for t in (1, 2, 4, 8)]
            worst = max(abs(c["error"]) for c in cases)
            lines += [
                f"Default prediction (no `--measure`) against the measured CPU allocator peak, fp32. Target: within "
                f"{TARGET_PCT}%. Largest error: {worst:.4f}%.",
                "",
                "| model | res | attention | t | measured peak (B) | predicted (B) | error | tensors only (B) | peak op |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for c in cases:
                lines.append(
                    f"| {c['model']} | {c['res']} | {c['attention']} | {c['t']} | {c['measured']:,} | {c['predicted']:,} "
                    f"| {c['error']:+.4f}% | {c['tensor']:,} | {c['where']} |"
                )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
