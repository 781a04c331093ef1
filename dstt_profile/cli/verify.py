"""`dstt-profile verify`: small real forward passes, op by op against the fake-tensor trace."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from dstt_profile.cli.options import analysis_runs
from dstt_profile.errors import UsageError
from dstt_profile.pipeline.runs import require_real_memory as check_real_memory
from dstt_profile.records.runconfig import RunConfig


def verify_run(run: RunConfig) -> tuple[bool, list[str]]:
    """(every op and the peak equal, the lines that say so) for one real pass of `run`."""
    from dstt_profile.engine.devicecheck import check, rule_names
    from dstt_profile.profiles.registry import normalised, subject_for

    run = normalised(run)
    done = check(run, subject_for(run))
    fake = done.fake
    predicted = fake.allocator_peak_bytes
    words = [f"t={run.frames}", run.res, run.dtype, f"b={run.batch}", f"{run.threads} threads", *(f"{k}={v}" for k, v in run.model_args)]
    lines = [f"{' '.join(words)}: {len(fake.ops)} ops compared; peak predicted {predicted:,} B (op #{fake.allocator_peak_index}), "
             f"measured {done.measured_peak:,} B (op #{done.measured_peak_op})"]
    counts = Counter(base for op in fake.ops for base, _ in rule_names(op.rules))  # ops each device rule applied to
    if counts:
        explained = ", ".join(f"{name} x{n}" for name, n in sorted(counts.items()))
        lines.append(f"  explained by device rules: {explained}")
    ok = not done.differences and predicted == done.measured_peak
    if done.differences:
        lines.append(f"  {len(done.differences)} figures differ; the first: {done.differences[0]}")
        lines.extend(f"    {d}" for d in done.differences[1:10])
    elif predicted != done.measured_peak:
        lines.append("  every op is equal, but the peaks are not")
    else:
        lines.append("  every op equal: held and inside-op bytes, integer for integer")
    return ok, lines


def verify_command(argv: Sequence[str]) -> int:
    runs = analysis_runs("verify", "Predicted against measured on this machine, op by op: small real "
                         "forward passes (t = 1, 2 by default; a smaller --res makes them faster) under the "
                         "allocator's events. Exit 0 when every op and the peak are equal, 1 with the first "
                         "op that is not.", argv, frames="1,2")
    if any(r.mode != "inference" for r in runs):
        raise UsageError("verify runs the forward pass: use --mode inference")
    if any(r.dtype == "int8" for r in runs):
        raise UsageError("verify: int8 is a storage what-if computed in float32, never run as such: verify --dtype float32")
    if any(r.device != "cpu" for r in runs):
        raise UsageError("verify compares the CPU allocator's events op by op: use --device cpu")
    check_real_memory(runs, "verify")
    all_ok = True
    for run in runs:
        ok, lines = verify_run(run)
        print("\n".join(lines), flush=True)
        all_ok &= ok
    print("verified: the prediction equals this machine's allocator" if all_ok else "NOT verified: see the first difference above")
    return 0 if all_ok else 1
