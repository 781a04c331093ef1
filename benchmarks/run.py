"""Benchmarks: the main job, a sweep, peak RSS, and fvcore / torch.profiler doing the same work.

    .venv/bin/python benchmarks/run.py [--repeat 3] [--quick] [--write benchmarks/RESULTS.md]

Every figure is a median over repeated runs of a fresh process (process start to files written), and
each comparison is measured side by side in the same invocation. Peak RSS comes from the kernel's
accounting of each child process (ru_maxrss).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclass(frozen=True)
class Measured:
    seconds: float
    rss_bytes: int
    ok: bool


def _run(args: list[str], timeout: float = 900) -> Measured:
    """Run a child process to completion; its wall time, peak RSS and whether it exited 0."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, usage.ru_maxrss * 1024, proc.returncode == 0)


def _median(runs: list[Measured]) -> Measured:
    return Measured(
        statistics.median(r.seconds for r in runs), max(r.rss_bytes for r in runs), all(r.ok for r in runs)
    )


def main_job(repeat: int, out: str) -> Measured:
    cmd = [PY, "-m", "dstt_profile", "--frames", "14", "--res", "240x432", "--out", out, "--quiet"]
    return _median([_run(cmd) for _ in range(repeat)])


FVCORE = """
import sys, torch
from fvcore.nn import FlopCountAnalysis, ActivationCountAnalysis
from model import InpaintGenerator
t = int(sys.argv[1])
model = InpaintGenerator().eval()
x = torch.randn(1, t, 3, 240, 432)
with torch.no_grad():
    f = FlopCountAnalysis(model, (x,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    f.total(); f.by_module()
    a = ActivationCountAnalysis(model, (x,)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    a.total()
"""

TORCH_PROFILER = """
import sys, torch
from model import InpaintGenerator
t = int(sys.argv[1])
model = InpaintGenerator().eval()
x = torch.randn(1, t, 3, 240, 432)
with torch.no_grad(), torch.profiler.profile(profile_memory=True, record_shapes=True, with_flops=True) as p:
    model(x)
p.key_averages()
"""


def child(script: str, t: int) -> Measured:
    return _run([PY, "-c", script, str(t)])


def sweep(frames: str, out: str) -> Measured:
    return _run([PY, "-m", "dstt_profile", "--frames", frames, "--out", out, "--quiet", "--format", "json"])


def rss_at(t: int, out: str) -> Measured:
    return _run([PY, "-m", "dstt_profile", "--frames", str(t), "--out", out, "--quiet", "--format", "json"])


def peer_sweep(script: str, budget_s: float, stop_at: int = 64) -> tuple[int, float, str]:
    """Run a peer for t = 1, 2, ... until the time budget is spent, t fails (memory), or stop_at."""
    spent, last = 0.0, 0
    for t in range(1, stop_at + 1):
        m = child(script, t)
        if not m.ok:
            return last, spent, f"failed at t={t} (real memory: {m.rss_bytes / 2**30:.1f} GiB RSS)"
        spent += m.seconds
        last = t
        if spent >= budget_s:
            return last, spent, "time budget spent"
    return last, spent, f"reached t={stop_at}"


def measured_case(t: int, attention: str, repeat: int, out: str) -> dict[str, Any]:
    """`dstt-profile --measure` in a fresh process; the measured figures from its JSON."""
    target = Path(out) / f"measure_{attention}_{t}"
    cmd = [PY, "-m", "dstt_profile", "--frames", str(t), "--attention", attention, "--measure",
           "--repeats", str(repeat), "--format", "json", "--out", str(target), "--quiet"]
    m = _run(cmd)
    if not m.ok:
        return {"t": t, "attention": attention, "ok": False}
    data = json.loads(next(target.glob("*.json")).read_text(encoding="utf-8"))
    run = data["runs"][0]
    return {"t": t, "attention": attention, "ok": True, "process_seconds": m.seconds, "process_rss": m.rss_bytes,
            **run["measured"]}


def measured_table(cases: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| t | attention | measured peak (B) | predicted allocator peak (B) | error | tensor peak alone (B) | error "
        "| workspace at the peak | forward, median | process peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        if not c["ok"]:
            lines.append(f"| {c['t']} | {c['attention']} | failed | | | | | | | |")
            continue
        lines.append(
            f"| {c['t']} | {c['attention']} | {c['measured_peak_bytes']:,} | {c['predicted_allocator_peak_bytes']:,} "
            f"| {c['peak_error_pct']:+.3f}% | {c['predicted_tensor_peak_bytes']:,} | {c['tensor_peak_error_pct']:+.2f}% "
            f"| {int(c['workspace_at_peak_bytes']) / 2**20:.1f} MiB ({c['allocator_peak_op']} in {c['allocator_peak_module']}) "
            f"| {c['forward_seconds']:.2f} s | {int(c['rss_peak_bytes']) / 2**30:.2f} GiB |"
        )
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB memory, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="skip the peer sweeps and the measured runs")
    ap.add_argument("--write", type=Path, default=None, help="write the table as Markdown here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        rows: list[tuple[str, str, str]] = []
        job = main_job(args.repeat, out)
        fv = _median([child(FVCORE, 14) for _ in range(max(1, args.repeat - 1))])
        rows.append(("main job t=14 (process start to JSON, CSV, HTML written)", f"{job.seconds:.2f} s", "target < 3 s"))
        rows.append(("fvcore FlopCount + ActivationCount, real tensors, t=14", f"{fv.seconds:.2f} s",
                     f"{fv.seconds / job.seconds:.1f}x the main job; RSS {fv.rss_bytes / 2**30:.2f} GiB"))
        sw = _median([sweep("1:64", out) for _ in range(args.repeat)])
        rows.append(("sweep t=1..64 (5 traces, 59 derived exactly; JSON and HTML written)", f"{sw.seconds:.2f} s", "target < 10 s"))
        if not args.quick:
            for name, script in (("fvcore", FVCORE), ("torch.profiler", TORCH_PROFILER)):
                last, spent, why = peer_sweep(script, sw.seconds)
                rows.append((f"{name} sweep in the same time", f"t=1..{last}", f"{spent:.1f} s; {why}"))
        for t in (14, 256, 1024):
            m = rss_at(t, out)
            rows.append((f"peak RSS of dstt-profile at t={t}", f"{m.rss_bytes / 2**20:.0f} MiB", f"{m.seconds:.2f} s"))
        cases = [] if args.quick else [
            measured_case(t, attention, args.repeat, out) for attention in ("matmul", "sdpa") for t in (1, 2, 4, 8)
        ]
    table = ["| measurement | figure | note |", "|---|---|---|", *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
    header = [
        "# Benchmarks",
        "",
        f"Measured {dt.date.today().isoformat()} on {machine()}, by `benchmarks/run.py --repeat {args.repeat}`.",
        "Medians over fresh processes; peak RSS from the kernel's accounting of each child.",
        "",
    ]
    if cases:
        table += [
            "",
            "## Predicted against measured (CPU, 240x432, float32)",
            "",
            "`dstt-profile --measure` per case, each in a fresh process: the allocator's net peak during the forward pass "
            "(torch.profiler memory events) against the default prediction (the allocator view: fake tensors, storages "
            f"at their real sizes, calibrated convolution workspaces); forward time the median of {args.repeat} passes after a warm-up.",
            "",
            *measured_table(cases),
        ]
    text = "\n".join(header + table) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
