"""The allocator view checked op by op: a real small run's allocator events (each op a profiler range)
against its fake trace, what is held after each op and how far above it went inside, integer for integer."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from dstt_profile.engine.allocations import AllocationLog, record_allocations
from dstt_profile.engine.devicerules import SCALAR_RULE, WRAPPED_NUMBER
from dstt_profile.engine.subject import Subject
from dstt_profile.engine.trace import Trace, trace
from dstt_profile.engine.workspace import WorkspaceCache
from dstt_profile.records.runconfig import RunConfig

PREFIX = "dstt-profile op #"
# Measurement artefact, not device truth: on the annotated real pass the recorder passes each Python
# number to the op again, and the op wraps it once more inside itself (8 B, released before it returns).
RECORDER_REWRAP = WRAPPED_NUMBER


def rule_names(rules: str) -> list[tuple[str, int]]:
    """An op's rule names ('cpu.scalar_operand*2,workspace.convolution') as (name, times) pairs."""
    pairs = (name.partition("*") for name in filter(None, rules.split(",")))
    return [(base, int(times or 1)) for base, _, times in pairs]


def scalar_count(rules: str) -> int:
    """How many scalar operands an op's rule names say it took."""
    return next((times for base, times in rule_names(rules) if base == SCALAR_RULE), 0)


@dataclass(frozen=True)
class RealOp:
    """What the allocator did during one op of a real pass (bytes above the start of the pass)."""

    index: int
    held: int  # when the op returned
    transient: int  # highest point inside the op, above `held` (0 when it never went above)


@dataclass(frozen=True)
class Difference:
    index: int
    op: str
    module: str
    figure: str  # held | transient
    predicted: int
    measured: int
    rules: str

    def __str__(self) -> str:
        return (f"op #{self.index} {self.op} in {self.module or '<root>'}: {self.figure} predicted "
                f"{self.predicted:,} B, measured {self.measured:,} B ({self.rules or 'no rule'})")


def real_ops(log: AllocationLog) -> list[RealOp]:
    """Per-op figures of an annotated real pass, in op order."""
    ranges = sorted((int(r.name[len(PREFIX) :]), r.start, r.end) for r in log.ranges if r.name.startswith(PREFIX))
    if not ranges:
        raise ValueError("no annotated op in the log: was the pass recorded with annotations?")
    times = [e.time_ns for e in log.events]
    first_start = ranges[0][1]
    k = bisect.bisect_left(times, first_start)
    start = log.events[k - 1].live if k > 0 else 0  # held before the pass's first op
    out = []
    for index, begin, end in ranges:
        lo, hi = bisect.bisect_left(times, begin), bisect.bisect_right(times, end)
        before = log.events[lo - 1].live if lo > 0 else 0
        after = log.events[hi - 1].live if hi > 0 else 0
        highest = max([before, *(e.live for e in log.events[lo:hi])])
        out.append(RealOp(index, after - start, highest - after))
    return out


@dataclass(frozen=True)
class Check:
    """One configuration checked op by op: the prediction, the differences, and the real pass's peak."""

    fake: Trace
    differences: list[Difference]
    measured_peak: int  # the most the allocator held during the real pass, above its start
    measured_peak_op: int  # the op where it did (-1: none allocated)


def check(run: RunConfig, subject: Subject, workspaces: WorkspaceCache | None = None) -> Check:
    """Trace `subject` for `run` on fake tensors and run it for real; every op compared."""
    fake = trace(run.replace(real=False), subject, workspaces=workspaces)
    log, real_trace = record_allocations(
        lambda: trace(run.replace(real=True), subject, annotate_prefix=PREFIX, workspaces=workspaces), PREFIX)
    found = differences(fake, real_trace, log)
    tops = [(op.held + op.transient, -op.index) for op in real_ops(log)]
    peak, where = max(tops) if tops else (0, 1)
    return Check(fake, found, peak, -where)


def compare(run: RunConfig, subject: Subject,
            workspaces: WorkspaceCache | None = None) -> tuple[Trace, list[Difference]]:
    """`check`'s prediction and differences."""
    done = check(run, subject, workspaces)
    return done.fake, done.differences


def differences(fake: Trace, real_trace: Trace, log: AllocationLog) -> list[Difference]:
    """Every op where the fake trace's allocator view differs from the real pass's events."""
    if [op.op for op in fake.ops] != [op.op for op in real_trace.ops]:
        raise ValueError("the real pass ran other ops than the fake trace: the two cannot be compared")
    real = {r.index: r for r in real_ops(log)}
    found = []
    for op in fake.ops:
        measured = real.get(op.index)
        if measured is None:
            raise ValueError(f"op #{op.index} {op.op} has no profiler range in the real pass")
        for figure, predicted, value in (
            ("held", op.held_bytes, measured.held),
            ("transient", op.transient_bytes + RECORDER_REWRAP * scalar_count(op.rules), measured.transient),
        ):
            if predicted != value:
                found.append(Difference(op.index, op.op, op.module, figure, predicted, value, op.rules))
    return found
