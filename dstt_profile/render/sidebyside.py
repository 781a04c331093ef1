"""Several results side by side: one column per combination (and per t), one row per figure."""

from __future__ import annotations

from collections.abc import Sequence

from dstt_profile.records.schema import Result
from dstt_profile.render.table import table


def render(results: Sequence[Result], labels: Sequence[str]) -> str:
    """`labels[i]` names `results[i]` (its combination); a sweep adds t to each of its columns."""
    first = results[0].runs[0]
    runs = [(label if len(result.runs) == 1 else f"{label} t={run.frames}", run)
            for result, label in zip(results, labels) for run in result.runs]
    columns = [[f"{r.peak.bytes:,}", r.peak.stage, f"{r.tensor_peak.bytes:,}", r.tensor_peak.stage, f"{r.flops.total:,}",
                *(f"{s.bytes:,}" for s in r.stages.values())] for _, r in runs]
    names = ["allocator peak (B)", "  in stage", "tensor peak (B)", "  in stage", "FLOPs", *(f"{s} bytes" for s in first.stages)]
    rows = [[name, *(col[i] for col in columns)] for i, name in enumerate(names)]
    c = first.config
    frames = ",".join(map(str, sorted({r.frames for res in results for r in res.runs})))
    head = (f"{first.title} t={frames} {c.height}x{c.width} batch {c.batch} on {c.device}: {len(runs)} runs side "
            "by side (bytes at each run's dtype; stage bytes: its headline tensor)")
    return "\n".join([head, "", *(line.rstrip() for line in table(["", *(h for h, _ in runs)], rows, range(1, len(runs) + 1)))])
