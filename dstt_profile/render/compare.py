"""A comparison of models on one clip as text: the terminal table, the HTML page (one row per model and a chart
of each model's peak against t), the JSON file (`dstt-profile-compare/1`, docs/cli.md) and a CSV row per model."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import jinja2
from markupsafe import Markup

from dstt_profile.records.compare import Comparison, ModelEntry
from dstt_profile.records.laws import Law, Laws
from dstt_profile.records.schema import BACKWARD, MemoryView, PeakRecord
from dstt_profile.render import plots
from dstt_profile.render.colours import colour_of, stage_colours
from dstt_profile.render.fit import gate_text
from dstt_profile.render.footprint import footprint_sentence
from dstt_profile.render.laws import law_text, peak_rows
from dstt_profile.render.table import exact_bytes, module_name, table
from dstt_profile.render.terminal import peak_location
from dstt_profile.units import fmt_bytes, fmt_count

SUFFIXES = ("json", "csv", "html")  # what compare_files renders, stem.<suffix>


def title(c: Comparison) -> str:
    """`compare: 2 models at t=8 48x96 batch 1 float32 (inference, cpu 2 threads, fake tensors, allocator view)`"""
    clip = c.clip
    device = f"{clip.device} {clip.threads} threads" if clip.device == "cpu" else clip.device
    view = "allocator view" if c.memory == MemoryView.ALLOCATOR else "tensor view"
    return (f"compare: {len(c.models)} models at t={clip.frames} {clip.res} batch {clip.batch} {clip.dtype} "
            f"({clip.mode}, {device}, fake tensors, {view})")


def peak_word(memory: MemoryView) -> str:
    """The peak's name in the memory view, as the report's law table names it."""
    return "allocator peak" if memory == MemoryView.ALLOCATOR else "tensor peak"


def view_line(c: Comparison) -> str:
    return f"peak: the {c.memory.label}, bytes above weights and input"


def budget_line(c: Comparison) -> str:
    return f"max t: the largest t whose {gate_text(c.gate, c.memory)} fits in {exact_bytes(c.budget_bytes)}"


def peak_place(peak: PeakRecord) -> str:
    """Where the peak is, short: `decoder (decoder.4.conv)`; the backward pass; or nothing allocated."""
    if peak.op_index < 0:
        return "nothing allocated"
    if peak.stage == BACKWARD:
        return f"backward pass ({peak.op})"
    return f"{peak.stage} ({module_name(peak.module)})"


def arguments(entry: ModelEntry) -> str:
    """The model arguments as given (`width=16`), '-' for none."""
    return ", ".join(f"{k}={v}" for k, v in entry.given_args) or "-"


def checks(entry: ModelEntry) -> str:
    found = entry.run.checks
    return f"{len(found) - entry.checks_failed}/{len(found)}" if found else "-"


def max_t(entry: ModelEntry) -> str:
    fit = entry.fit
    return f"{fit.max_frames} (the largest t accepted)" if fit.limit_reached else str(fit.max_frames)


def span(law: Law) -> str:
    first = law.apart[0][0] if law.apart else law.first
    return f"t = {first}" if first == law.last else f"t = {first}..{law.last}"


def peak_law_rows(entry: ModelEntry) -> list[dict[str, str]]:
    """The peak's law over each run of t where one stage holds it (render/laws.py peak_rows); a run of one t has
    no law to fit, so its value is given."""
    values = dict(zip(entry.scaling.frames, entry.peak_series[0]))
    found = peak_rows(Laws(entry.run.memory, {}, entry.peak_laws))
    return [{**row, "law": f"{values.get(seg.law.first, 0):,} (one point)"} if seg.law.points == 1 else row
            for seg, row in zip(entry.peak_laws, found)]


def rows(c: Comparison) -> list[dict[str, str]]:
    """One row of cells per model, for the terminal table and the HTML page."""
    out = []
    for m in c.models:
        run, peak = m.run, m.peak
        out.append({
            "label": m.label, "title": run.title, "model": run.config.model, "args": arguments(m),
            "params": f"{run.params:,}", "params_bytes": fmt_bytes(run.param_bytes), "flops": f"{run.flops.total:,}",
            "flops_short": fmt_count(run.flops.total, "FLOP"), "peak": exact_bytes(peak.bytes),
            "peak_bytes": f"{peak.bytes:,} B", "footprint_bytes": f"{run.footprint.total:,} B",
            "peak_short": fmt_bytes(peak.bytes), "where": peak_place(peak), "where_long": peak_location(peak),
            "footprint": exact_bytes(run.footprint.total), "footprint_short": fmt_bytes(run.footprint.total),
            "footprint_sum": footprint_sentence(run.footprint), "max_t": max_t(m),
            "max_t_detail": fit_detail(m), "checks": checks(m), "flops_law": law_text(m.flops_law),
            "flops_span": span(m.flops_law)})
    return out


def fit_detail(entry: ModelEntry) -> str:
    """The figures either side of the largest t, in words."""
    fit = entry.fit
    if fit.max_frames == 0:
        return f"even t = 1 does not fit: its footprint is {fmt_bytes(fit.next_footprint_bytes or 0)}, its peak " \
               f"{fmt_bytes(fit.next_peak_bytes or 0)}"
    at = f"at t = {fit.max_frames}: peak {fmt_bytes(fit.peak_bytes)}, footprint {fmt_bytes(fit.footprint_bytes)}"
    if fit.next_peak_bytes is None:
        return f"{at}; the search reached the largest t this tool accepts"
    return (f"{at}; at t = {fit.max_frames + 1}: peak {fmt_bytes(fit.next_peak_bytes)}, footprint "
            f"{fmt_bytes(fit.next_footprint_bytes or 0)}")


def law_lines(entry: ModelEntry) -> list[tuple[str, str]]:
    """(what, `span: law`) for the model's peak, one per run of t where one stage holds it, then its FLOPs."""
    word = peak_word(entry.run.memory)
    out = [(f"{word} in {row['stage']}", f"{row['span']}: {row['law']}") for row in peak_law_rows(entry)]
    out.append(("FLOPs", f"{span(entry.flops_law)}: {law_text(entry.flops_law)}"))
    return out


def render_text(c: Comparison) -> str:
    """The terminal's answer: the table, one row per model, each model's reference, then each model's laws in t."""
    header = ["model", "params", "FLOPs", peak_word(c.memory), "peak in", "footprint", "max t", "checks"]
    found = rows(c)
    cells = [[r[k] for k in ("label", "params", "flops", "peak", "where", "footprint", "max_t", "checks")] for r in found]
    width = max(len(m.label) for m in c.models)
    refs = [f"  {r['label'].ljust(width)}  {r['model']}" + (f" ({r['args']})" if r["args"] != "-" else "") for r in found]
    laws = [(m.label, law_lines(m)) for m in c.models]
    what = max(len(name) for _, lines in laws for name, _ in lines)
    return "\n".join([
        title(c), view_line(c), budget_line(c), "", *table(header, cells, {1, 2, 3, 5, 6}), "", "models:", *refs, "",
        "scaling in t: exact laws, each through every point of the model's default sweep and checked on every one",
        *(f"  {(label if i == 0 else '').ljust(width)}  {name.ljust(what)}  {text}"
          for label, lines in laws for i, (name, text) in enumerate(lines))])


def law_json(law: Law) -> dict[str, Any]:
    """A law as data: exact coefficients as text, lowest power first ("3/2" where not whole), and as the report shows it."""
    return {"first": law.first, "last": law.last, "points": law.points,
            "coefficients": [str(c) for c in law.poly.coefficients] if law.poly is not None else None,
            "apart": [[t, v] for t, v in law.apart], "text": law_text(law)}


def model_json(m: ModelEntry) -> dict[str, Any]:
    run, peak, fp = m.run, m.peak, m.run.footprint
    c = run.config
    values, stages = m.peak_series
    return {
        "label": m.label, "title": run.title, "profile": run.profile.name, "model": c.model, "model_args": c.args,
        "given_args": dict(m.given_args), "model_path": list(c.model_path), "inputs": c.inputs, "stages": c.stages,
        "params": run.params, "param_bytes": run.param_bytes, "input_bytes": run.input_bytes, "flops": run.flops.total,
        "other_flops": run.flops.other_total,
        "peak": {"view": str(run.memory), "bytes": peak.bytes, "stage": peak.stage, "op": peak.op,
                 "op_index": peak.op_index, "module": peak.module},
        "footprint": {"total": fp.total, "weights": fp.weights, "input": fp.input, "activations": fp.activations,
                      "optimizer": fp.optimizer, "optimizer_name": fp.optimizer_name, "context": fp.context},
        "checks": {"passed": len(run.checks) - m.checks_failed, "total": len(run.checks)},
        "fit": m.fit.to_dict(),
        "scaling": {"source": m.scaling.source, "frames": list(m.scaling.frames), "peak_bytes": list(values),
                    "peak_stage": list(stages), "flops": list(m.scaling.flops)},
        "laws": {"peak": [{"stage": seg.stage, **law_json(seg.law), "text": row["law"]}
                          for seg, row in zip(m.peak_laws, peak_law_rows(m))], "flops": law_json(m.flops_law)},
    }


def render_json(c: Comparison) -> str:
    clip = c.clip
    keys = ("frames", "height", "width", "batch", "dtype", "device", "mode", "memory", "optimizer", "threads")
    data = {"schema": c.schema, "clip": {k: getattr(clip, k) for k in keys},
            "budget": {"bytes": c.budget_bytes, "gate": c.gate}, "models": [model_json(m) for m in c.models]}
    return json.dumps(data, indent=1) + "\n"


CSV_COLUMNS = ("label", "model", "model_args", "frames", "height", "width", "batch", "dtype", "device", "mode", "memory",
               "params", "param_bytes", "flops", "peak_bytes", "peak_stage", "peak_module", "footprint_bytes",
               "budget_bytes", "gate", "max_frames", "max_frames_peak_bytes", "max_frames_footprint_bytes",
               "peak_law", "flops_law", "checks_passed", "checks_total")


def render_csv(c: Comparison) -> str:
    """One row per model; the laws as the report writes them, segments joined by '; '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in c.models:
        run, peak, fit, cfg = m.run, m.peak, m.fit, m.run.config
        laws = "; ".join(f"{r['span']} in {r['stage']}: {r['law']}" for r in peak_law_rows(m))
        writer.writerow([m.label, cfg.model, ";".join(f"{k}={v}" for k, v in cfg.args.items()), cfg.frames, cfg.height,
                         cfg.width, cfg.batch, cfg.dtype, cfg.device, cfg.mode, cfg.memory, run.params, run.param_bytes,
                         run.flops.total, peak.bytes, peak.stage, peak.module, run.footprint.total, c.budget_bytes,
                         c.gate, fit.max_frames, fit.peak_bytes, fit.footprint_bytes, laws, law_text(m.flops_law),
                         len(run.checks) - m.checks_failed, len(run.checks)])
    return out.getvalue()


def peak_svg(entry: ModelEntry) -> str:
    """A small chart of the model's peak (its memory view) against t, each point coloured by the stage holding it,
    the clip's t marked."""
    frames = list(entry.scaling.frames)
    values, stages = entry.peak_series
    scale = plots.scale_for("bytes", max(values, default=0))
    colours = stage_colours(entry.run.profile)
    t = entry.run.frames

    def draw(_fig: Any, axes: list[Any]) -> None:
        ax = axes[0]
        ax.plot(frames, [v / scale.size for v in values], "-", lw=1, color="#555555")
        for stage in dict.fromkeys(stages):
            picked = [(x, v / scale.size) for x, v, s in zip(frames, values, stages) if s == stage]
            ax.plot([x for x, _ in picked], [v for _, v in picked], "o", ms=3, color=colour_of(colours, stage), label=stage)
        ax.axvline(t, color="#d00000", ls="--", lw=1)
        ax.annotate(f"t={t}", (t, 0.95), xycoords=("data", "axes fraction"), fontsize=8, color="#d00000", ha="left", va="top")
        ax.set_xlabel("t (frames)")
        ax.set_ylabel(f"{peak_word(entry.run.memory)} ({scale.name})")
        ax.set_title(entry.label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")

    return plots._svg((4.8, 3.0), 1, {"left": 0.16, "right": 0.97, "bottom": 0.16, "top": 0.9}, draw)


def context(c: Comparison) -> dict[str, Any]:
    return {"title": title(c), "view_line": view_line(c), "budget_line": budget_line(c), "peak_word": peak_word(c.memory),
            "peak_label": c.memory.label, "rows": rows(c), "fit_head": f"max t ({c.gate} within {fmt_bytes(c.budget_bytes)})",
            "models": [{"label": m.label, "svg": Markup(peak_svg(m)), "peak_laws": peak_law_rows(m),
                        "flops_law": law_text(m.flops_law), "flops_span": span(m.flops_law), "source": m.scaling.source,
                        "colours": stage_colours(m.run.profile)} for m in c.models]}


def render_html(c: Comparison) -> str:
    """The comparison page: self-contained (inline SVG, no script, nothing fetched)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("dstt_profile", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("compare.html.j2").render(**context(c))


def compare_files(c: Comparison, formats: tuple[str, ...] = ("json", "csv")) -> dict[str, str]:
    """The comparison's files by suffix: the HTML page always, the JSON and CSV where `formats` names them."""
    texts = {"json": render_json(c) if "json" in formats else None, "csv": render_csv(c) if "csv" in formats else None,
             "html": render_html(c)}
    return {suffix: text for suffix, text in texts.items() if text is not None}
