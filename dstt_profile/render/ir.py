"""An IR's record (`records/ir.py`) as text: the terminal's stage table, the JSON (`dstt-profile-ir/1`, the main
result's fields where they apply, docs/openvino.md), a CSV row per layer, and the HTML page with the layer graph
drawn from the IR's edges (an overview of the stages as they run, and each of those runs opened to its layers)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import jinja2
import networkx as nx
from markupsafe import Markup

from dstt_profile.records.ir import (
    COMPUTE,
    CONSTANT,
    INPUT,
    OUTPUT,
    RUNTIME,
    SCHEMA,
    SHAPE,
    IRLayerRecord,
    IRRecord,
    IRStageRecord,
    IRTensor,
)
from dstt_profile.render.colours import PALETTE
from dstt_profile.render.graph.svg import graph_svg
from dstt_profile.render.table import dims, table
from dstt_profile.units import fmt_bytes, fmt_count

SUFFIXES = ("json", "csv", "html")
DRAWN = frozenset({INPUT, COMPUTE, OUTPUT})  # the layers of the graph: constants and shape arithmetic are not data
NO_MEMORY = "none: an IR holds shapes and precisions, not allocations (no peak, no footprint: the runtime plans its buffers)"
MODULE_PREFIX = "__module."


def _shape(t: IRTensor) -> str:
    return "x".join("?" if d < 0 else str(d) for d in t.shape) if t.shape else "scalar"


def clip_text(rec: IRRecord) -> str:
    """`t=2 240x432 batch 1`; for an IR whose input is not a clip, its inputs' shapes."""
    c = rec.clip
    if c.frames is None:
        inputs = [lr for lr in rec.layers if lr.kind == "input"]
        return "inputs " + ", ".join(_shape(lr.outputs[0]) if lr.outputs else "-" for lr in inputs) if inputs else "no inputs"
    return f"t={c.frames} {c.height}x{c.width} batch {c.batch}"


def title(rec: IRRecord) -> str:
    """`OpenVINO IR dstt.xml (IR v11, Model0): DSTT t=2 240x432 batch 1 float32`"""
    name = Path(rec.path).name
    model = f", {rec.model_name}" if rec.model_name else ""
    return f"OpenVINO IR {name} (IR v{rec.ir_version}{model}): {rec.title} {clip_text(rec)} {rec.dtype}".rstrip()


def _verdict(s: IRStageRecord) -> str:
    if not s.found:
        return "not in IR"
    if s.match is None:
        return "-"
    return "ok" if s.match else "MISMATCH"


def stage_rows(rec: IRRecord) -> list[dict[str, str]]:
    """The stage table's cells; a stage whose headline is not in the IR says so in place of its figures."""
    rows = []
    for s in rec.stages:
        mark = "" if s.materialised else " *"
        rows.append({
            "stage": s.name, "shape": f"{dims(s.shape)}{mark}" if s.found else "-",
            "elements": f"{s.elements:,}" if s.found else "-", "bytes": fmt_bytes(s.bytes) if s.found else "-",
            "precision": s.precision, "flops": fmt_count(s.flops, "FLOP") if s.flops else "0",
            "flops_exact": f"{s.flops:,}", "share": f"{100 * s.share:.1f}%", "layers": str(s.layers),
            "instances": str(s.instances), "headline": s.headline, "layer": s.layer, "module": s.module or "-",
            "formula": s.formula or "-", "verdict": _verdict(s), "note": s.note,
            "substituted": f"{s.formula_substituted} = {s.formula_elements:,}" if s.formula else "-"})
    return rows


def flops_line(rec: IRRecord) -> str:
    types = ", ".join(rec.flops_by_type) or "no layer of a counted type"
    return (f"{rec.flops_total:,} = {fmt_count(rec.flops_total, 'FLOP')} ({types}: 2 per multiply-add; other layers "
            "are not counted)")


def layers_line(rec: IRRecord) -> str:
    counts = [(rec.kind_count(INPUT), "input"), (rec.kind_count(COMPUTE), "computing"),
              (rec.kind_count(SHAPE), "shape arithmetic"), (rec.kind_count(CONSTANT), "constant"),
              (rec.kind_count(OUTPUT), "output layer")]
    parts = ", ".join(f"{n} {what}" for n, what in counts if n)
    return f"{len(rec.layers)} ({parts}; constants hold {fmt_bytes(rec.constant_bytes)}), {len(rec.edges)} edges"


def checks_line(rec: IRRecord) -> str:
    if not rec.checks and not rec.unchecked:
        return "none (no formulas for this model)"
    passed = len(rec.checks) - rec.checks_failed
    text = f"{passed}/{len(rec.checks)} formulas match" if rec.checks else "none checked"
    return text + (f"; {len(rec.unchecked)} not checked (below)" if rec.unchecked else "")


def summary(rec: IRRecord) -> list[tuple[str, str]]:
    out = [("sizes", rec.clip.source), ("stages", rec.stage_source)]
    if rec.sizes_note:
        out.append(("network", rec.sizes_note))
    out += [("FLOPs", flops_line(rec)), ("layers", layers_line(rec)), ("memory", NO_MEMORY), ("checks", checks_line(rec))]
    return out


def stage_notes(rec: IRRecord) -> list[str]:
    """A line per stage whose headline is not an ordinary layer output: not in the IR, or fused, and why."""
    return [f"{s.name}: {s.note}" for s in rec.stages if s.note]


def layer_cells(layer: IRLayerRecord) -> list[str]:
    outs = layer.outputs
    return [str(layer.index), layer.name, layer.type, layer.stage, "; ".join(_shape(t) for t in outs) or "-",
            "; ".join(t.precision for t in outs) or "-",
            "; ".join(f"{t.elements:,}" if t.elements is not None else "?" for t in outs) or "-",
            "; ".join(fmt_bytes(t.bytes) if t.bytes is not None else "?" for t in outs) or "-",
            f"{layer.flops:,}" if layer.flops is not None else "-"]


LAYER_HEADER = ["#", "layer", "type", "stage", "output shape", "precision", "elements", "bytes", "FLOPs"]


def render_text(rec: IRRecord, layers: bool = False) -> str:
    """The terminal's answer: the title, the stage table, the summary lines, what was not found or checked; with
    `layers`, every layer but the constants."""
    precisions = {s.precision for s in rec.stages if s.found}
    header = ["stage", "headline shape", "elements", f"bytes ({precisions.pop()})" if len(precisions) == 1 else "bytes",
              "FLOPs", "share", "layers", "formula"]
    keys = ("stage", "shape", "elements", "bytes", "flops", "share", "layers", "verdict")
    rows = stage_rows(rec)
    width = max(len(k) for k, _ in summary(rec))
    lines = [title(rec), "", *table(header, [[r[k] for k in keys] for r in rows], {2, 3, 4, 5, 6}), ""]
    lines += [f"{k.ljust(width)}  {v}" for k, v in summary(rec)]
    lines += [f"{'':{width}}  {n}" for n in rec.notes]
    if notes := stage_notes(rec):
        lines += ["", "* headline not an ordinary layer output:", *(f"  {n}" for n in notes)]
    if failed := [c for c in rec.checks if not c.passed]:
        lines += ["", "formula mismatches:", *(f"  {c.name}: {c.formula} = {c.expected:,}, the IR gives {c.measured:,}"
                                               for c in failed)]
    if rec.unchecked:
        lines += ["", "not checked (no figure in the IR):", *(f"  {u}" for u in rec.unchecked)]
    if layers:
        shown = [lr for lr in rec.layers if lr.kind != "constant"]
        lines += ["", *table(LAYER_HEADER, [layer_cells(lr) for lr in shown], {0, 6, 7, 8}),
                  f"({rec.kind_count('constant')} constants not shown: the JSON, the CSV and the HTML page list every layer)"]
    return "\n".join(lines)


def _tensor_json(t: IRTensor) -> dict[str, Any]:
    return {"port": t.port, "shape": list(t.shape), "precision": t.precision, "elements": t.elements, "bytes": t.bytes}


def _stage_json(s: IRStageRecord) -> dict[str, Any]:
    return {"name": s.name, "found": s.found, "shape": list(s.shape), "elements": s.elements, "bytes": s.bytes,
            "precision": s.precision, "flops": s.flops, "instances": s.instances, "share": s.share, "layers": s.layers,
            "headline": s.headline, "module": s.module, "layer": s.layer, "materialised": s.materialised, "note": s.note,
            "formula": s.formula, "formula_substituted": s.formula_substituted, "formula_elements": s.formula_elements,
            "match": s.match}


def record_json(rec: IRRecord) -> dict[str, Any]:
    c = rec.clip
    run = {
        "config": {"frames": c.frames, "height": c.height, "width": c.width, "batch": c.batch, "dtype": rec.dtype,
                   "model": rec.path, "model_args": dict(rec.sizes), "stages": rec.stage_map},
        "clip": {"input": c.input_name, "shape": list(c.input_shape), "source": c.source},
        "profile": {"name": rec.profile, "title": rec.title, "stages": [s.name for s in rec.stages],
                    "colours": colours(rec), "note": rec.stage_source},
        "flops": {"total": rec.flops_total, "by_op": dict(rec.flops_by_type)},
        "stages": {s.name: _stage_json(s) for s in rec.stages},
        "checks": [{"name": ch.name, "formula": ch.formula, "formula_substituted": ch.formula_substituted,
                    "expected": ch.expected, "measured": ch.measured, "unit": ch.unit} for ch in rec.checks],
        "unchecked": list(rec.unchecked),
        "layers": [{"index": lr.index, "id": lr.id, "name": lr.name, "type": lr.type, "opset": lr.opset, "kind": lr.kind,
                    "module": lr.module, "stage": lr.stage, "outputs": [_tensor_json(t) for t in lr.outputs],
                    "flops": lr.flops} for lr in rec.layers],
        "edges": [{"source": e.source, "source_port": e.source_port, "target": e.target, "target_port": e.target_port}
                  for e in rec.edges],
        "extra": {"source": f"OpenVINO IR {rec.path} (IR v{rec.ir_version}): layer shapes and precisions as the IR holds "
                  "them; its weights file is not read", "network": rec.sizes_note, "notes": list(rec.notes)},
    }
    meta = {"ir": rec.path, "ir_version": rec.ir_version, "model_name": rec.model_name, "memory": NO_MEMORY}
    return {"schema": SCHEMA, "runtime": RUNTIME, "meta": meta, "runs": [run], "scaling": None}


def render_json(rec: IRRecord) -> str:
    return json.dumps(record_json(rec), indent=1) + "\n"


CSV_COLUMNS = ("index", "id", "name", "type", "kind", "module", "stage", "shape", "precision", "elements", "bytes", "flops")


def render_csv(rec: IRRecord) -> str:
    """One row per layer (a layer with several outputs: its figures joined by ';')."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for lr in rec.layers:
        ts = lr.outputs
        writer.writerow([lr.index, lr.id, lr.name, lr.type, lr.kind, lr.module, lr.stage, ";".join(_shape(t) for t in ts),
                         ";".join(t.precision for t in ts), ";".join("" if t.elements is None else str(t.elements) for t in ts),
                         ";".join("" if t.bytes is None else str(t.bytes) for t in ts),
                         "" if lr.flops is None else lr.flops])
    return out.getvalue()


def colours(rec: IRRecord) -> dict[str, str]:
    """Stage -> colour: the profile's own, else the palette's next in stage order."""
    free = cycle(PALETTE)
    return {s.name: rec.colours.get(s.name) or next(free) for s in rec.stages}


@dataclass(frozen=True)
class StageRun:
    """Layers of one stage that run one after another (in topological order): a block's attention, an encoder."""

    key: str
    stage: str
    module: str
    layers: tuple[IRLayerRecord, ...]


def _common(modules: Sequence[str]) -> str:
    parts = [m.split(".") for m in modules if m]
    if not parts:
        return ""
    shared = []
    for names in zip(*parts):
        if len(set(names)) != 1:
            break
        shared.append(names[0])
    return ".".join(shared)


def stage_runs(rec: IRRecord) -> list[StageRun]:
    groups: list[list[IRLayerRecord]] = []
    for lr in rec.layers:
        if lr.kind in DRAWN:
            if groups and groups[-1][0].stage == lr.stage:
                groups[-1].append(lr)
            else:
                groups.append([lr])
    out, seen = [], set[str]()
    for group in groups:
        stage, module = group[0].stage, _common([lr.module for lr in group])
        key = stage if module in ("", stage) else f"{stage}: {module}"
        n = 2
        while key in seen:
            key, n = f"{stage} ({n})" if module in ("", stage) else f"{stage}: {module} ({n})", n + 1
        seen.add(key)
        out.append(StageRun(key, stage, module, tuple(group)))
    return out


def _largest(layers: Sequence[IRLayerRecord]) -> int:
    return max((t.bytes or 0 for lr in layers for t in lr.outputs), default=0)


def _headlines(rec: IRRecord) -> dict[str, str]:
    return {s.layer: "headline" for s in rec.stages if s.found and s.layer}


def _short(name: str, within: str) -> str:
    """A layer's name without the converter's prefix, and without the module its run is in."""
    name = name.removeprefix(MODULE_PREFIX)
    return name[len(within) + 1:] if within and name.startswith(within + ".") else name


def _edge_attrs(tensor: IRTensor | None) -> dict[str, Any]:
    return {"shape": _shape(tensor) if tensor is not None else "?", "bytes": (tensor.bytes or 0) if tensor else 0,
            "tensors": 1}


def _outputs(rec: IRRecord) -> dict[tuple[int, int], IRTensor]:
    return {(lr.id, t.port): t for lr in rec.layers for t in lr.outputs}


def overview_graph(rec: IRRecord, runs: Sequence[StageRun]) -> nx.DiGraph:
    """The stages as they run, one box per run, edges where a tensor passes from one run to another."""
    g = nx.DiGraph(name="stages")
    where = {lr.id: run.key for run in runs for lr in run.layers}
    notes = _headlines(rec)
    for run in runs:
        flops = sum(lr.flops or 0 for lr in run.layers)
        last = next((t for lr in reversed(run.layers) for t in lr.outputs), None)
        holds = [notes[lr.name] for lr in run.layers if lr.name in notes]
        g.add_node(run.key, label=run.key, stage=run.stage, bytes=_largest(run.layers), first_op=run.layers[0].index,
                   kind="module", note=holds[0] if holds else "", peak=0,
                   detail=f"{len(run.layers)} layers -> {_shape(last) if last is not None else '-'}",
                   cost=f"largest output {fmt_bytes(_largest(run.layers))}" + (f", {fmt_count(flops)}FLOP" if flops else ""))
    tensors = _outputs(rec)
    flows: dict[tuple[str, str], dict[tuple[int, int], IRTensor | None]] = {}
    for e in rec.edges:
        a, b = where.get(e.source), where.get(e.target)
        if a is not None and b is not None and a != b:
            flows.setdefault((a, b), {})[(e.source, e.source_port)] = tensors.get((e.source, e.source_port))
    for (a, b), found in flows.items():
        shapes = list(dict.fromkeys(_shape(t) if t is not None else "?" for t in found.values()))
        g.add_edge(a, b, shape=", ".join(shapes[:3]) + (", ..." if len(shapes) > 3 else ""),
                   bytes=sum((t.bytes or 0) for t in found.values() if t is not None), tensors=len(found))
    return g


_BOUNDARY_NODE = {"kind": "boundary", "stage": "", "bytes": 0, "note": "", "detail": "", "cost": "", "peak": 0}


def run_graph(rec: IRRecord, run: StageRun, runs: Sequence[StageRun]) -> nx.DiGraph:
    """One run's layers and the edges between them, its neighbours as `from X` / `to X` boxes."""
    g = nx.DiGraph(name=run.key)
    mine = {lr.id for lr in run.layers}
    where = {lr.id: r.key for r in runs for lr in r.layers}
    notes, tensors = _headlines(rec), _outputs(rec)
    for lr in run.layers:
        out = lr.outputs[0] if lr.outputs else None
        shape = "; ".join(_shape(t) for t in lr.outputs) or "-"
        precision = lr.outputs[0].precision if lr.outputs else ""
        g.add_node(lr.name, label=_short(lr.name, run.module), stage=lr.stage, bytes=(out.bytes or 0) if out else 0,
                   first_op=lr.index, kind="layer", note=notes.get(lr.name, ""), peak=0,
                   detail=f"{lr.type} -> {shape} {precision}".rstrip(),
                   cost=(f"{fmt_bytes(out.bytes)}" if out is not None and out.bytes is not None else "no output")
                   + (f", {fmt_count(lr.flops)}FLOP" if lr.flops else ""))
    names = {lr.id: lr.name for lr in rec.layers}
    index = {lr.id: lr.index for lr in rec.layers}
    for e in rec.edges:
        inside_a, inside_b = e.source in mine, e.target in mine
        if not (inside_a or inside_b) or e.source not in where or e.target not in where:
            continue
        a = names[e.source] if inside_a else f"from {where[e.source]}"
        b = names[e.target] if inside_b else f"to {where[e.target]}"
        for end, at in ((a, index[e.source]), (b, index[e.target])):
            if end not in g:  # a neighbour's box, placed by the layer on its side
                g.add_node(end, label=end, first_op=at, **_BOUNDARY_NODE)
        if not g.has_edge(a, b):
            g.add_edge(a, b, **_edge_attrs(tensors.get((e.source, e.source_port))))
    return g


def context(rec: IRRecord) -> dict[str, Any]:
    runs = stage_runs(rec)
    palette = colours(rec)
    ids = {run.key: f"ir-run-{n}" for n, run in enumerate(runs)}
    overview = overview_graph(rec, runs)
    most = max((_largest(run.layers) for run in runs), default=0) or None
    views = [{"id": ids[run.key], "title": f"{run.key}: {len(run.layers)} layers",
              "svg": Markup(graph_svg(run_graph(rec, run, runs), f"{run.key}: its layers", ids[run.key],
                                      scale_bytes=most, colours=palette))} for run in runs]
    return {"title": title(rec), "summary": summary(rec), "notes": list(rec.notes), "rows": stage_rows(rec),
            "stage_notes": stage_notes(rec), "checks": rec.checks, "unchecked": list(rec.unchecked), "colours": palette,
            "overview": Markup(graph_svg(overview, "stages as they run (one box per run of a stage's layers)",
                                         "ir-overview", ids, most, palette)),
            "views": views, "layers": [layer_cells(lr) + [lr.kind] for lr in rec.layers],
            "layer_header": [*LAYER_HEADER, "kind"]}


def render_html(rec: IRRecord) -> str:
    """The IR's page: self-contained (inline SVG, nothing fetched)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("dstt_profile", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("ir.html.j2").render(**context(rec))


def ir_files(rec: IRRecord, formats: Sequence[str] = ("json", "csv")) -> dict[str, str]:
    """The IR's files by suffix: the HTML page always, the JSON and the CSV where `formats` names them."""
    texts: Mapping[str, str | None] = {"json": render_json(rec) if "json" in formats else None,
                                       "csv": render_csv(rec) if "csv" in formats else None, "html": render_html(rec)}
    return {suffix: text for suffix, text in texts.items() if text is not None}
