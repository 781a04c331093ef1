"""The five released video-inpainting networks, each from its own repository as it is: for every (model, t) the
tool's default prediction (fake tensors) against a real forward pass on this machine: total FLOPs against
torch's FlopCounterMode on the same model and inputs, `peak.bytes` against the allocator's real peak, the stage
table's profile, and the wall time of one `dstt-profile --frames 8` (the report's sweep included) per model.

    python benchmarks/released_repos.py --repos DIR [--frames 1,2,4] [--only sttn,e2fgvi] [--no-cli] [--compare T]

ProPainter imports einops: `pip install einops` into the environment first.

DIR holds the checkouts side by side: DSTT, STTN, FuseFormer, E2FGVI, ProPainter (git clones of ruiliu-ai/DSTT,
researchmm/STTN, ruiliu-ai/FuseFormer, MCG-NKU/E2FGVI, sczhou/ProPainter). Packages these need that cannot be
installed beside torch 2.13 here (torchvision, mmcv) come from tests/models/standins; the forward's arguments
beside the clip (masks, flows, the local frame count) from the inputs functions in tests/models/*/inputs.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
STANDINS = ROOT / "tests" / "models" / "standins"
TESTS = ROOT / "tests" / "models"


@dataclass(frozen=True)
class Released:
    repo: str  # the checkout's directory name
    file: str  # the generator's file in it
    inputs: str | None  # an inputs function (tests/models/...), or None: the clip alone

    def model(self, repos: Path) -> str:
        return f"{repos / self.repo / self.file}:InpaintGenerator"

    def paths(self, repos: Path) -> tuple[str, ...]:
        return (str(repos / self.repo), str(STANDINS))


MODELS = {
    "dstt": Released("DSTT", "model/DSTT.py", None),
    "sttn": Released("STTN", "model/sttn.py", f"{TESTS / 'sttn' / 'inputs.py'}:masked_clip"),
    "fuseformer": Released("FuseFormer", "model/fuseformer.py", None),
    "e2fgvi": Released("E2FGVI", "model/e2fgvi.py", f"{TESTS / 'e2fgvi' / 'inputs.py'}:inputs"),
    "propainter": Released("ProPainter", "model/propainter.py", f"{TESTS / 'propainter' / 'inputs.py'}:inputs"),
}


def real_flops(run: object) -> int:
    """FlopCounterMode's total over one real forward pass of the same model and inputs (eval, no grad)."""
    from dstt_profile.engine.contain import user_code
    from dstt_profile.engine.trace import build
    from dstt_profile.profiles.registry import subject_for

    real = run.replace(real=True)  # type: ignore[attr-defined]
    subject = subject_for(real)
    model, inputs = build(real, subject)
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter, user_code(subject.program):
        inputs.call(model)
    return int(counter.get_total_flops())


def row(name: str, released: Released, repos: Path, t: int) -> str:
    from dstt_profile.api import measured_run, run_config
    from dstt_profile.pipeline.runs import profile_run

    run = run_config(t, model=released.model(repos), model_path=released.paths(repos), inputs=released.inputs)
    started = time.perf_counter()
    predicted = profile_run(run, keep_ops=False)
    seconds = time.perf_counter() - started
    flops = real_flops(run)
    measured = measured_run(run, repeats=1).measured
    assert measured is not None
    real_peak = measured.measured_peak_bytes
    error = 100.0 * (predicted.peak.bytes - real_peak) / real_peak if real_peak else 0.0
    checks = f"{sum(c.passed for c in predicted.checks)}/{len(predicted.checks)}" if predicted.checks else "none"
    return (f"| {name} | {t} | {predicted.profile.name} | {len(predicted.stages)} | {checks} | {predicted.flops.total:,} | "
            f"{flops:,} | {predicted.flops.total - flops:+,} | {predicted.peak.bytes:,} | {real_peak:,} | {error:+.3f}% | "
            f"{seconds:.1f} |")


def cli_seconds(released: Released, repos: Path, out: Path) -> float:
    """Wall seconds of one `dstt-profile --frames 8` (report, sweep t = 2..16 and all), run twice: the second."""
    command = [sys.executable, "-m", "dstt_profile", "--frames", "8", "--model", released.model(repos), "--quiet",
               "--out", str(out)]
    for path in released.paths(repos):
        command += ["--model-path", path]
    if released.inputs:
        command += ["--inputs", released.inputs]
    seconds = 0.0
    for _ in range(2):  # the first fills the workspace cache
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    return seconds


def compare(names: list[str], repos: Path, out: Path, frames: int) -> tuple[float, str]:
    """`dstt-profile compare` of the models side by side at t=`frames`: (wall seconds, its table)."""
    command = [sys.executable, "-m", "dstt_profile", "compare", "--frames", str(frames), "--out", str(out)]
    for name in names:
        released = MODELS[name]
        command += ["--model", released.model(repos), "--label", released.repo]
        for path in released.paths(repos):
            command += ["--model-path", path]
        if released.inputs:
            command += ["--inputs", released.inputs]
    started = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"compare failed ({done.returncode}): {done.stderr.strip().splitlines()[-1]}")
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=Path, required=True, help="the directory holding the five checkouts")
    parser.add_argument("--frames", default="1,2,4")
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--no-cli", action="store_true", help="skip the --frames 8 timings")
    parser.add_argument("--compare", type=int, default=0, metavar="T", help="also compare them all at t=T")
    parser.add_argument("--out", type=Path, default=Path("/tmp/released_repos"))
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")]
    frames = [int(t) for t in args.frames.split(",") if t]  # "": no rows (the timings alone)
    print("| model | t | profile | stages | checks | FLOPs (tool) | FlopCounterMode (real) | diff | peak.bytes (tool) "
          "| allocator peak (real) | error | trace s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        for t in frames:
            print(row(name, MODELS[name], args.repos, t), flush=True)
    if args.compare:
        seconds, table = compare(names, args.repos, args.out, args.compare)
        print(f"\n`dstt-profile compare --frames {args.compare}` of {len(names)} models: {seconds:.1f} s\n\n```\n{table}```")
    if not args.no_cli:
        print("\n| model | `dstt-profile --frames 8` wall s (warm cache) |\n|---|---|")
        for name in names:
            print(f"| {name} | {cli_seconds(MODELS[name], args.repos, args.out):.1f} |", flush=True)


if __name__ == "__main__":
    main()
