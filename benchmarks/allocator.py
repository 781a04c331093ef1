"""Benchmark: the default prediction (allocator view, nothing run at the target size) against this CPU's
real allocator, op by op, and what the main job costs with a warm and a cold workspace cache.

    .venv/bin/python benchmarks/allocator.py [--write benchmarks/ALLOCATOR.md] [--quick] [--no-cap]

Every case is `dstt-profile verify` in a fresh process: the fake-tensor trace against a real forward
pass recorded with torch.profiler's memory events, every op's held and inside-op bytes compared, and
the two peaks. Cases cover the built-in DSTT (float32, bfloat16, float16; matmul and sdpa; a thread
count other than this machine's) and two models loaded by path with `--model` (a stand-in for the
released generator file and a small video model). The cases run twice: on this CPU as it is, and with
its instruction set capped one level down (AVX-512 -> AVX2, anything else -> the baseline) for ATen's
kernels and oneDNN's alike, and each row says which. The main job is timed from process start to files
written, with this machine's workspace cache in place (warm) and with an empty one (cold), and so is a
first bfloat16 run from an empty cache.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
LINE = re.compile(
    r"^t=(\d+) .*: (\d+) ops compared; peak predicted ([\d,]+) B \(op #(-?\d+)\), measured ([\d,]+) B \(op #(-?\d+)\)$"
)

# Users' own code, profiled by path: a stand-in for the released generator file (its module names and
# forward; it imports `core`, found through --model-path) and a small video model of different stages.
MODELS = ROOT / "tests" / "models"
RELEASED = ("--model", str(MODELS / "released_model" / "dstt.py") + ":InpaintGenerator", "--model-path", str(MODELS / "released"))
TINY = ("--model", str(MODELS / "tinyvideo.py") + ":TinyVideoNet")


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown CPU"


def _capability(env: dict[str, str]) -> str:
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def capped(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """The environment with the instruction set one level below this CPU's, and its words."""
    if _capability(env) == "AVX512":
        aten, onednn = "avx2", "AVX2"
    else:
        aten, onednn = "default", "SSE41"
    words = f"ATEN_CPU_CAPABILITY={aten}, ONEDNN_MAX_CPU_ISA={onednn}"
    return {**env, "ATEN_CPU_CAPABILITY": aten, "ONEDNN_MAX_CPU_ISA": onednn}, words


def verify(frames: str, res: str, options: tuple[str, ...], env: dict[str, str]) -> tuple[list[dict[str, Any]], float, bool]:
    """(per t: ops, predicted and measured peaks), seconds, and whether verify passed."""
    cmd = [PY, "-m", "dstt_profile", "verify", "--frames", frames, "--res", res, *options]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    rows = []
    for line in proc.stdout.splitlines():
        found = LINE.match(line)
        if found:
            t, ops, predicted, _, measured, where = found.groups()
            rows.append({"t": int(t), "ops": int(ops), "predicted": int(predicted.replace(",", "")),
                         "measured": int(measured.replace(",", "")), "op": int(where)})
    return rows, seconds, proc.returncode == 0


CASES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("built-in DSTT, float32, matmul", "1,2,4,8,14", "240x432", ()),
    ("built-in DSTT, float32, sdpa", "1,2,4,8", "240x432", ("--attention", "sdpa")),
    ("built-in DSTT, float32, sdpa, 8 threads", "2", "240x432", ("--attention", "sdpa", "--threads", "8")),
    ("built-in DSTT, float32, matmul", "1,2", "480x864", ()),
    ("built-in DSTT, bfloat16, matmul", "1,2", "240x432", ("--dtype", "bfloat16")),
    ("built-in DSTT, float16, sdpa", "1", "240x432", ("--dtype", "float16", "--attention", "sdpa")),
    ("released-file stand-in, float32", "1,2", "240x432", RELEASED),
    ("small video model, float32", "1,2,4,8", "64x64", TINY),
]
QUICK_CASES = CASES[:1]


def main_job(env: dict[str, str], out: Path, options: tuple[str, ...] = ("--frames", "14")) -> float:
    cmd = [PY, "-m", "dstt_profile", *options, "--res", "240x432", "--out", str(out), "--quiet"]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def table(cases: list[tuple[str, str, str, tuple[str, ...]]], env: dict[str, str], cpu: str) -> tuple[list[str], bool]:
    lines = []
    every = True
    for name, frames, res, options in cases:
        rows, seconds, ok = verify(frames, res, options, env)
        every &= ok
        for r in rows:
            lines.append(
                f"| {cpu} | {name} | {res} | {r['t']} | {r['measured']:,} | {r['predicted']:,} | "
                f"{r['predicted'] - r['measured']:+,} | {r['ops']} | {'every op equal' if ok else 'DIFFERS'} |"
            )
        lines[-1] += f" {seconds:.0f} s for t = {frames} |" if rows else ""
    return lines, every


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="timings and one case only")
    ap.add_argument("--no-cap", action="store_true", help="this CPU as it is only")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    env = dict(os.environ)
    cpu = f"{_cpu_name()}, {_capability(env)}, {os.cpu_count()} cores"
    lines = [
        "# Allocator view: predicted against measured, op by op",
        "",
        f"Measured {dt.date.today().isoformat()} by `benchmarks/allocator.py` on {cpu}, torch 2.13.0 CPU build. "
        "Every row is `dstt-profile verify`: the default prediction (fake tensors, nothing run at the target size) "
        "against a real forward pass's allocator events, every op's held and inside-op bytes and the peak.",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        main_job(env, out)  # this machine's cache holds the main job's convolutions
        warm = statistics.median(main_job(env, out) for _ in range(args.repeat))
        cold = statistics.median(main_job({**env, "DSTT_PROFILE_CACHE": str(out / f"empty{i}")}, out) for i in range(args.repeat))
        half = ("--frames", "1,2", "--dtype", "bfloat16")  # ATen's own kernels without native bfloat16: derived
        bf16 = statistics.median(
            main_job({**env, "DSTT_PROFILE_CACHE": str(out / f"bf16-{i}")}, out, half) for i in range(args.repeat)
        )
    lines += [
        "| main job, `dstt-profile --frames 14 --res 240x432` | seconds (median) |",
        "|---|---|",
        f"| warm workspace cache | {warm:.2f} |",
        f"| cold: empty cache, every convolution calibrated first | {cold:.2f} |",
        f"| first `--frames 1,2 --dtype bfloat16` run, empty cache (target: under 60 s) | {bf16:.2f} |",
        "",
        "| CPU | model | res | t | measured peak (B) | predicted (B) | difference | ops compared | ops | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    cases = QUICK_CASES if args.quick else CASES
    rows, every = table(cases, env, _capability(env))
    lines += rows
    if not args.no_cap:
        capped_env, words = capped(env)
        rows, capped_every = table(cases, capped_env, f"capped: {words}")
        lines += rows
        every &= capped_every
    lines += ["", "Every op equal in every case." if every else "NOT every case verified: see the rows marked DIFFERS."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    return 0 if every else 1


if __name__ == "__main__":
    sys.exit(main())
