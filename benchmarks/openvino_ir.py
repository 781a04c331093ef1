"""OpenVINO beside PyTorch for the built-in DSTT, with the `[openvino]` extra installed:

1. the IR of the built-in network at t=14, 240x432 (`dstt-profile --runtime openvino --frames 14`, which writes it
   beside the report) read back by `dstt-profile ir`: every stage's shape and elements, and the formula checks,
   against the PyTorch run's JSON;
2. `dstt-profile --runtime openvino --measure --frames 1,2,4`: per-stage time of both runtimes, PyTorch's
   allocator peak and OpenVINO's peak RSS above its baseline (printed as the tool prints it).

    python benchmarks/openvino_ir.py [--out DIR] [--frames 14] [--measure 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def tool(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dstt_profile", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dstt-profile {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/openvino_ir"))
    parser.add_argument("--frames", default="14")
    parser.add_argument("--measure", default="1,2,4")
    args = parser.parse_args()
    out, t = args.out, args.frames
    seconds, _ = tool("--runtime", "openvino", "--frames", t, "--format", "json", "--out", str(out / "torch"), "--quiet")
    torch_json = next((out / "torch").glob(f"dstt_t{t}_*.json"))
    ir_file = next((out / "torch").glob(f"dstt_t{t}_*.xml"))
    print(f"converted and profiled at t={t}: {seconds:.1f} s ({ir_file.name})")
    seconds, table = tool("ir", str(ir_file), "--format", "json", "--out", str(out / "ir"))
    print(f"dstt-profile ir: {seconds:.1f} s\n\n```\n{table}```\n")
    ours = json.loads(torch_json.read_text())["runs"][0]
    ir = json.loads(next((out / "ir").glob("*_ir.json")).read_text())["runs"][0]
    print("| stage | PyTorch shape | elements | IR shape | elements | same |\n|---|---|---|---|---|---|")
    for name, stage in ours["stages"].items():
        other = ir["stages"].get(name, {})
        same = other.get("shape") == stage["shape"] and other.get("elements") == stage["elements"]
        print(f"| {name} | {'x'.join(map(str, stage['shape']))} | {stage['elements']:,} | "
              f"{'x'.join(map(str, other.get('shape', [])))} | {other.get('elements', 0):,} | {'yes' if same else 'NO'} |")
    def passing(checks: list[dict[str, object]]) -> str:
        return f"{sum(c['measured'] == c['expected'] for c in checks)}/{len(checks)}"

    print(f"\nformula checks: PyTorch {passing(ours['checks'])}, IR {passing(ir['checks'])}")
    if args.measure:
        seconds, table = tool("--runtime", "openvino", "--measure", "--frames", args.measure, "--out", str(out / "measure"))
        print(f"\n`--runtime openvino --measure --frames {args.measure}`: {seconds:.1f} s\n\n```\n{table}```")


if __name__ == "__main__":
    main()
