"""The footprint as text: the total as a sum of its parts, and what is inside the activation peak."""

from __future__ import annotations

from dstt_profile.records.footprint import OPTIMIZER_STATES
from dstt_profile.records.schema import FootprintRecord
from dstt_profile.units import fmt_bytes


def footprint_parts(fp: FootprintRecord) -> list[tuple[str, int, str]]:
    """(part, bytes, note) for every part of the footprint, then the total; the parts sum to it."""
    rows = [("weights", fp.weights, "parameters and buffers, resident"), ("input clip", fp.input, "resident"),
            ("activation peak", fp.activations, _activation_note(fp))]
    if fp.mode == "train":
        states = OPTIMIZER_STATES[fp.optimizer_name]
        rows.append((f"optimizer state ({fp.optimizer_name})", fp.optimizer, f"{states} x parameter bytes"))
    if fp.context:
        rows.append(("CUDA context", fp.context, f"assumed allowance of {fmt_bytes(fp.context)}, not traced"))
    return rows


def _activation_note(fp: FootprintRecord) -> str:
    if fp.mode != "train":
        return "allocator peak of the pass"
    if fp.gradients_in_peak < 0:
        return "allocator peak of forward + backward: gradients and saved activations alive then are in it"
    return (f"allocator peak of forward + backward; inside it, not added again: gradients "
            f"{fp.gradients_in_peak:,} B, activations saved for backward {fp.saved_in_peak:,} B")


def footprint_sentence(fp: FootprintRecord) -> str:
    """'1.6 GiB (1,662,682,636 B) = weights 131.7 MiB + input clip 16.6 MiB + activation peak 1.4 GiB'"""
    terms = " + ".join(f"{name} {fmt_bytes(n)}" for name, n, _ in footprint_parts(fp))
    return f"{fmt_bytes(fp.total)} ({fp.total:,} B) = {terms}"


def footprint_lines(fp: FootprintRecord) -> list[str]:
    """The terminal's footprint lines: the total as a sum of its parts, then what is inside the peak."""
    out = [f"footprint    {footprint_sentence(fp)}"]
    if fp.mode == "train":
        out.append(f"             {_activation_note(fp)}")
    if fp.context:
        out.append(f"             CUDA context: an assumed allowance of {fp.context:,} B, not traced")
    return out
