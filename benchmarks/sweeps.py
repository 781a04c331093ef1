"""Benchmark: sweeps over many clip lengths, end to end (process start to JSON, CSV and HTML written).

    .venv/bin/python benchmarks/sweeps.py [--repeat 3] [--write benchmarks/SWEEPS.md]

Targets on a 2-core machine: `--frames 1:4096` under 15 s, under 1 GB of memory (peak RSS) and a JSON
under 50 MB; `--frames 1:64` a JSON under 2 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"1:4096": (15.0, 1 << 30, 50_000_000), "1:64": (None, None, 2_000_000)}


def once(frames: str, out: Path) -> tuple[float, int, int]:
    """(seconds, peak RSS bytes, JSON bytes) of one fresh process."""
    cmd = [sys.executable, "-m", "dstt_profile", "--frames", frames, "--out", str(out), "--quiet"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed")
    size = next(out.glob("*.json")).stat().st_size
    return seconds, usage.ru_maxrss * 1024, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", type=Path, default=None)
    args = ap.parse_args()
    lines = [
        "# Sweeps",
        "",
        f"Measured {dt.date.today().isoformat()} by `benchmarks/sweeps.py --repeat {args.repeat}` on {os.cpu_count()} "
        "cores: medians over fresh processes, peak RSS the largest.",
        "",
        "| sweep | seconds | peak RSS | JSON | targets |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for frames, (max_s, max_rss, max_json) in TARGETS.items():
            found = [once(frames, Path(tmp) / f"{frames.replace(':', '_')}_{i}") for i in range(args.repeat)]
            seconds = statistics.median(f[0] for f in found)
            rss, size = max(f[1] for f in found), found[-1][2]
            wanted = []
            if max_s is not None:
                wanted.append(f"< {max_s:.0f} s: {'met' if seconds < max_s else 'NOT met'}")
            if max_rss is not None:
                wanted.append(f"< 1 GB RSS: {'met' if rss < max_rss else 'NOT met'}")
            if max_json is not None:
                wanted.append(f"JSON < {max_json / 1e6:.0f} MB: {'met' if size < max_json else 'NOT met'}")
            lines.append(
                f"| `--frames {frames}` | {seconds:.2f} | {rss / 2**20:.0f} MiB | {size / 1e6:.1f} MB | {'; '.join(wanted)} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
