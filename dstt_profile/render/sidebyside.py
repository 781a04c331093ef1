"""Several results side by side: one column per combination (and per t), one row per figure."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.records.schema import Result, RunRecord
from dstt_profile.render.table import table


def _column(run: RunRecord) -> list[str]:
    p = run.peak
    cells = [
        f"{p.bytes:,}",
        p.stage,
        f"{run.tensor_peak.bytes:,}",
        run.tensor_peak.stage,
        f"{run.flops.total:,}",
    ]
    return cells + [f"{s.bytes:,}" for s in run.stages.values()]


def render(results: Sequence[Result], labels: Sequence[str]) -> str:
    """`labels[i]` names `results[i]` (its combination); a sweep adds t to each of its columns."""
    first = results[0].runs[0]
    headers: list[str] = []
    columns: list[list[str]] = []
    for result, label in zip(results, labels):
        for run in result.runs:
            headers.append(label if len(result.runs) == 1 else f"{label} t={run.frames}")
            columns.append(_column(run))
    names = [
        "allocator peak (B)",
        "  in stage",
        "tensor peak (B)",
        "  in stage",
        "FLOPs",
        *(f"{stage} bytes" for stage in first.stages),
    ]
    rows = [[name, *(col[i] for col in columns)] for i, name in enumerate(names)]
    right = set(range(1, len(headers) + 1))
    c = first.config
    frames = ",".join(map(str, sorted({r.frames for res in results for r in res.runs})))
    head = (
        f"{first.title} t={frames} {c['height']}x{c['width']} batch {c['batch']} on {c['device']}: {len(headers)} runs side "
        "by side (bytes at each run's dtype; stage bytes: its headline tensor)"
    )
    return "\n".join([head, "", *(line.rstrip() for line in table(["", *headers], rows, right))])
