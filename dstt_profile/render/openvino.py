"""`--runtime openvino` rendered from records alone: per run the IR's stages beside PyTorch's, and with
--measure one table of time per stage for both runtimes with the memory each holds and the outputs'
difference; as text for the terminal and as one self-contained HTML page holding the time plot (SVG)."""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence
from typing import Any

from dstt_profile.records.openvino import GLUE, OpenVinoMeasuredRecord, OpenVinoRecord, OpenVinoRunRecord
from dstt_profile.records.report import Report
from dstt_profile.records.schema import MeasuredRecord, RunRecord
from dstt_profile.render.plots import _svg
from dstt_profile.render.table import dims, exact_bytes, table
from dstt_profile.units import fmt_bytes

RUNTIMES = ("PyTorch", "OpenVINO")
COLOURS = {"PyTorch": "#ee4c2c", "OpenVINO": "#0068b5"}
RSS_NOTE = ("OpenVINO's memory is measured as RSS, in a process of its own: its high-water mark (VmHWM) above the "
            "RSS it had before reading the IR; RSS counts all OpenVINO holds resident (weights, compiled blobs, "
            "runtime buffers), and OpenVINO gives no per-layer memory")


def short_version(version: str) -> str:
    """'2026.4.1' of '2026.4.1-22982-e213a147257-releases/2026/4'."""
    return version.split("-", 1)[0]


def _title(run: RunRecord) -> str:
    c = run.config
    return f"{run.title} t={c.frames} {c.height}x{c.width} batch {c.batch} {c.dtype}"


def stage_rows(ov: OpenVinoRunRecord) -> list[list[str]]:
    return [[s.name, dims(s.pytorch_shape), f"{s.pytorch_elements:,}", dims(s.ir_shape) if s.ir_layer else "-",
             f"{s.ir_elements:,}" if s.ir_layer else "-", str(s.layers), "agree" if s.agree else "differ",
             s.ir_layer or "-"] for s in ov.stages]


STAGE_HEADER = ["stage", "PyTorch headline", "elements", "IR headline", "elements", "IR layers", "verdict", "IR layer"]


def ir_summary(ov: OpenVinoRunRecord) -> str:
    agreed = sum(s.agree for s in ov.stages)
    return (f"stages       {agreed}/{len(ov.stages)} agree; {ov.layers:,} computing IR layers, {ov.glue_layers:,} of "
            "them naming no stage's module (in the running stage, as PyTorch's glue ops)")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.1f} ms"


def time_stages(run: RunRecord, m: OpenVinoMeasuredRecord) -> list[str]:
    """The stages both timings hold, in the run's stage order, glue last."""
    theirs = run.measured.stage_seconds if run.measured is not None else {}
    order = [s for s in run.stages if s in theirs or s in m.stage_seconds]
    extra = [s for s in (*theirs, *m.stage_seconds) if s not in order and s != GLUE]
    return [*order, *dict.fromkeys(extra), *([GLUE] if GLUE in theirs or GLUE in m.stage_seconds else [])]


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if not ours or theirs is None else f"{theirs / ours:.3g}"


FUSED = "fused"  # a stage with IR layers but no executed node: the plugin ran its layers inside others'


def _openvino_ms(ov: OpenVinoRunRecord, m: OpenVinoMeasuredRecord, stage: str) -> str:
    if stage in m.stage_seconds:
        return _ms(m.stage_seconds[stage])
    return FUSED if any(s.name == stage and s.layers for s in ov.stages) else "-"


def time_rows(run: RunRecord, ov: OpenVinoRunRecord, m: OpenVinoMeasuredRecord) -> list[list[str]]:
    pt = run.measured
    stages = pt.stage_seconds if pt is not None else {}
    rows = [[s, _ms(stages.get(s)), _openvino_ms(ov, m, s), _ratio(stages.get(s), m.stage_seconds.get(s))]
            for s in time_stages(run, m)]
    forward = pt.forward_seconds if pt is not None else None
    rows.append(["total (wall, median)", _ms(forward), _ms(m.infer_seconds), _ratio(forward, m.infer_seconds)])
    return rows


TIME_HEADER = ["stage", "PyTorch", "OpenVINO", "OpenVINO / PyTorch"]


def _diff(value: float) -> str:
    return "not finite (an output holds inf or NaN)" if value < 0 else f"{value:.3g}"


def passes(repeats: int) -> str:
    return "one timed pass" if repeats == 1 else f"the median of {repeats} timed passes"


def measure_lines(run: RunRecord, m: OpenVinoMeasuredRecord) -> list[str]:
    pt: MeasuredRecord | None = run.measured
    executed = "" if m.executed_precision == m.precision else f"; this CPU infers at {m.executed_precision}"
    lines = [f"precision    OpenVINO INFERENCE_PRECISION_HINT {m.precision} (the compiled model reports "
             f"{m.executed_precision}{executed}), PERFORMANCE_HINT {m.performance_hint}, {m.threads} threads "
             f"(INFERENCE_NUM_THREADS); PyTorch {run.config.dtype}, {run.config.threads} threads",
             f"times        {passes(m.repeats)} after one warm-up, each runtime; OpenVINO's stages from "
             f"its per-node counters (the executed nodes' real time: {_ms(m.node_seconds)} of {_ms(m.infer_seconds)} wall, "
             f"{m.nodes_executed} nodes; {FUSED}: the stage's layers ran inside another stage's nodes), PyTorch's "
             "inside each stage's modules"]
    if pt is not None:
        rss = max(0, pt.rss_peak_bytes - pt.rss_before_bytes)
        lines.append(f"PyTorch      allocator peak {exact_bytes(pt.measured_peak_bytes)} measured ({pt.method}); "
                     f"process peak RSS {fmt_bytes(pt.rss_peak_bytes)}, {fmt_bytes(rss)} above its {fmt_bytes(pt.rss_before_bytes)} before the real passes")
    reset = "" if m.rss_reset else " (the high-water mark could not be reset: it may hold the child's start-up too)"
    lines += [f"OpenVINO     peak RSS {exact_bytes(m.rss_above_baseline_bytes)} above a baseline of "
              f"{exact_bytes(m.rss_baseline_bytes)} (high-water mark {fmt_bytes(m.rss_peak_bytes)}){reset}; "
              f"compile {m.compile_seconds:.2f} s, warm-up {m.warmup_seconds:.2f} s",
              f"             {RSS_NOTE}",
              f"outputs      max |PyTorch - OpenVINO| {_diff(m.max_abs_diff)} on the same input"
              + ("" if len(m.output_max_abs_diff) < 2 else
                 f" (per output: {', '.join(map(_diff, m.output_max_abs_diff))})")]
    return lines


def _pairs(report: Report, record: OpenVinoRecord) -> list[tuple[RunRecord, OpenVinoRunRecord]]:
    return [(run, ov) for run in report.runs if (ov := record.run_at(run.frames)) is not None]


def render_text(report: Report, record: OpenVinoRecord) -> str:
    """The terminal's account: per run, the stage table, then with --measure the time table and its lines."""
    out: list[str] = []
    for run, ov in _pairs(report, record):
        out += [f"OpenVINO {short_version(record.version)}: {_title(run)}, IR {ov.xml} (+ .bin, {fmt_bytes(ov.bin_bytes)} of weights, "
                f"float32), converted in {ov.convert_seconds:.1f} s", "",
                *table(STAGE_HEADER, stage_rows(ov), (2, 4, 5)), "", ir_summary(ov)]
        out += [f"  differ: {s.name}: {s.difference}" for s in ov.stages if not s.agree]
        if ov.measured is not None:
            out += ["", f"time per stage, PyTorch and OpenVINO, t={run.frames}",
                    *table(TIME_HEADER, time_rows(run, ov, ov.measured), (1, 2, 3)), "", *measure_lines(run, ov.measured)]
        out.append("")
    out.append(f"grouping     {record.grouping}")
    return "\n".join(out)


def time_svg(pairs: Sequence[tuple[RunRecord, OpenVinoRunRecord]]) -> str | None:
    """Time per stage of both runtimes, one panel per measured run; None where none was measured."""
    measured = [(run, ov.measured) for run, ov in pairs if ov.measured is not None]
    if not measured:
        return None

    def draw(_fig: Any, axes: list[Any]) -> None:
        for ax, (run, m) in zip(axes, measured):
            stages = time_stages(run, m)
            theirs = run.measured.stage_seconds if run.measured is not None else {}
            ys = range(len(stages))
            height = 0.38
            for k, (name, values) in enumerate((("PyTorch", theirs), ("OpenVINO", m.stage_seconds))):
                ax.barh([y + (k - 0.5) * height for y in ys], [values.get(s, 0.0) * 1e3 for s in stages],
                        height=height, color=COLOURS[name], label=name)
            ax.set_yticks(list(ys), stages)
            ax.invert_yaxis()
            ax.set_xlabel("ms (median)")
            ax.set_title(f"time per stage, t={run.frames}")
            ax.grid(True, axis="x", alpha=0.3)
        axes[-1].legend(fontsize=8, loc="lower right")

    panels = len(measured)
    label, axis, gap, margin = 1.5, 3.6, 1.7, 0.2  # inches: stage names, a panel, between panels, right edge
    width = label + panels * axis + (panels - 1) * gap + margin
    return _svg((width, 3.6), panels, {"left": label / width, "right": 1 - margin / width, "bottom": 0.14, "top": 0.9,
                                       "wspace": gap / axis}, draw)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: Collection[int] = (0,)) -> str:
    """A table whose columns in `left` are left-aligned (text), the others right-aligned (figures)."""
    def cell(tag: str, i: int, text: str) -> str:
        return f'<{tag}{" class=l" if i in left else ""}>{html.escape(text)}</{tag}>'

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


STYLE = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0}"
         "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right;font-variant-numeric:tabular-nums}"
         ".l{text-align:left}p{margin:.3em 0}")


def render_html(report: Report, record: OpenVinoRecord) -> str:
    """One self-contained page: the stage tables, the time tables and the time plot (inline SVG)."""
    pairs = _pairs(report, record)
    parts = [f"<h1>{html.escape(report.run.title)} under OpenVINO {html.escape(short_version(record.version))}</h1>",
             _p(f"grouping: {record.grouping}")]
    for run, ov in pairs:
        parts += [f"<h2>{html.escape(_title(run))}</h2>", _p(f"IR {ov.xml} and {ov.bin} ({fmt_bytes(ov.bin_bytes)})"),
                  _html_table(STAGE_HEADER, stage_rows(ov), (0, 6, 7)), _p(ir_summary(ov).split(maxsplit=1)[1]),
                  *(_p(f"differ: {s.name}: {s.difference}") for s in ov.stages if not s.agree)]
        if ov.measured is not None:
            parts += ["<h3>time per stage</h3>", _html_table(TIME_HEADER, time_rows(run, ov, ov.measured)),
                      *(_p(line.strip()) for line in measure_lines(run, ov.measured))]
    svg = time_svg(pairs)
    if svg is not None:
        parts += ["<h2>time per stage, both runtimes</h2>", svg]
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>'
            f"{html.escape(report.run.title)} under OpenVINO</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")
