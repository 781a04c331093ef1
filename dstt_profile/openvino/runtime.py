"""`--runtime openvino` for a report's runs: each run converted, its IR saved and compared stage by stage,
and with `measure` run by OpenVINO beside PyTorch's measured run; the answer is an OpenVinoRecord."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from dstt_profile.openvino import load
from dstt_profile.openvino.compare import GROUPING, glue_layers, ir_view, side_by_side
from dstt_profile.openvino.convert import convert, save_ir
from dstt_profile.openvino.measure import measure
from dstt_profile.profiles.registry import resolve, subject_for
from dstt_profile.records.openvino import OpenVinoRecord, OpenVinoRunRecord
from dstt_profile.records.schema import RunRecord


def openvino_run(record: RunRecord, xml: Path, measured: bool, repeats: int,
                 say: Callable[[str], None]) -> OpenVinoRunRecord:
    """One run: converted, saved at `xml` (and its .bin), compared; measured when asked."""
    run = record.config
    subject = subject_for(run)
    say(f"t={run.frames}: converting to OpenVINO")
    converted = convert(run, subject)
    xml, binary = save_ir(converted.ir, xml)
    view = ir_view(xml, resolve(run))
    figures = None
    if measured:
        say(f"t={run.frames}: OpenVINO compile, warm-up and {repeats} timed inference{'s' if repeats != 1 else ''}")
        figures = measure(run, xml, converted, repeats, subject.stage_of, subject.program)
    computed = sum(1 for layer in view.model.layers if view.kinds[layer.id] == "compute")
    return OpenVinoRunRecord(frames=run.frames, xml=str(xml), bin=str(binary), bin_bytes=binary.stat().st_size,
                             layers=computed, glue_layers=glue_layers(view), convert_seconds=converted.seconds,
                             stages=side_by_side(record, view), measured=figures)


def openvino_record(runs: tuple[RunRecord, ...], targets: Mapping[int, Path], measured: bool, repeats: int,
                    say: Callable[[str], None] | None = None) -> OpenVinoRecord:
    """Every run of a report (`targets`: t -> the IR's .xml path) under OpenVINO."""
    ov = load()
    tell = say or (lambda _step: None)
    done = tuple(openvino_run(r, targets[r.frames], measured, repeats, tell) for r in runs)
    return OpenVinoRecord(version=str(ov.__version__), grouping=GROUPING, runs=done)
