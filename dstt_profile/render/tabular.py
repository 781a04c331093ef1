"""JSON and CSV outputs of a result."""

from __future__ import annotations

import csv
import io

from dstt_profile.records.legacy import DSTT_CONFIG_FIELDS
from dstt_profile.records.report import Report
from dstt_profile.render.table import dims

STAGE_COLUMNS = (
    "t", "height", "width", "batch", "dtype", "attention", "mode", "stage", "shape", "elements", "bytes",
    "flops", "other_flops", "instances", "share", "formula", "formula_elements", "match", "peak_bytes",
    "peak_view", "tensor_peak_bytes", "heads", "zones", "blocks", "hidden", "channel", "device", "optimizer",
    "params", "peak_stage", "allocator_peak_bytes", "footprint_bytes", "model", "model_args")


def render_json(report: Report) -> str:
    """One run indented for reading; a sweep compact (only then json's C encoder runs: ~20 MB at 64 runs)."""
    return report.result.to_json(indent=1 if len(report.runs) == 1 else None)


def render_csv(report: Report) -> str:
    """One row per t x stage, with every configuration column; DSTT's arguments have columns of their own
    (empty for another model), `model_args` holds the others, as name=value;..."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STAGE_COLUMNS)
    for r in report.runs:
        c = r.config
        args = ";".join(f"{k}={v}" for k, v in c.args.items() if k not in DSTT_CONFIG_FIELDS)
        writer.writerows([
            c.frames, c.height, c.width, c.batch, c.dtype, r.arg("attention"), c.mode, s.name,
            dims(s.shape, ""), s.elements, s.bytes, s.flops, s.other_flops, s.instances, f"{s.share:.6f}",
            s.formula_substituted, s.formula_elements, s.match, r.peak_view.bytes, r.memory, r.tensor_peak.bytes,
            *(r.arg(name) for name in ("heads", "zones", "blocks", "hidden", "channel")), c.device,
            r.footprint.optimizer_name, r.params, r.peak_view.stage, r.peak.bytes, r.footprint.total, c.model, args,
        ] for s in r.stages.values())
    return out.getvalue()
