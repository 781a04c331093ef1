"""The layer graph: modules in data-flow order as a networkx DiGraph, drawn as inline SVG, and exported
as GraphML and DOT.

The overview keeps the top-level modules and one node per transformer block (the blocks form a chain),
so the whole model stays legible. The detail views follow one temporal and one spatial block through
their reshapes down to the attention matrix, from the run's per-op records (module records otherwise).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape

import networkx as nx

from dstt_profile.records.schema import ModuleRecord, OpRecord, RunRecord
from dstt_profile.render.plots import stage_color, use_colours
from dstt_profile.render.xmltext import xml_text
from dstt_profile.units import fmt_bytes

_SKIP_OPS = frozenset({"aten.t", "aten.expand", "aten._unsafe_view"})
BOX_W, BOX_H, GAP = 330, 40, 18


_ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int8": 1, "bool": 1}


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) if shape else "-"


def _output(m: ModuleRecord) -> str:
    """'14x720x512 (19.7 MiB)': the first output's shape and bytes at its dtype."""
    if not m.outputs:
        return "-"
    out = m.outputs[0]
    size = _ITEMSIZE.get(out.dtype.removeprefix("torch."))
    return _shape(out.shape) + (f" ({fmt_bytes(out.elements * size)})" if size else "")


def _block_kind(run: RunRecord, block: ModuleRecord) -> str:
    return block.stage.replace("_attention", "") if block.stage.endswith("_attention") else block.stage


def overview_modules(run: RunRecord) -> list[ModuleRecord]:
    """Top-level modules in call order, with the container of repeated blocks (the profile's
    `blocks`: DSTT's transformer) replaced by its blocks."""
    blocks = run.profile.blocks
    picked = []
    for m in sorted(run.modules, key=lambda m: m.order):
        parts = m.name.split(".") if m.name else []
        top = len(parts) == 1 and parts[0] != blocks
        if top or (len(parts) == 2 and parts[0] == blocks):
            picked.append(m)
    return picked


def _holds_peak(run: RunRecord, first: int, last: int) -> bool:
    return first <= run.peak_view.op_index <= last and first >= 0


def _node_attrs(label: str, detail: str, stage: str, nbytes: int, peak: bool, view: str) -> dict[str, object]:
    return {"label": label, "detail": detail, "stage": stage, "bytes": int(nbytes), "peak": int(peak), "view": view}


def overview_graph(run: RunRecord) -> nx.DiGraph:
    g = nx.DiGraph(name="dstt")
    previous = None
    for m in overview_modules(run):
        out = m.outputs[0] if m.outputs else None
        nbytes = m.alloc_bytes
        label = f"{m.name}  {m.type}"
        if run.profile.blocks and m.name.startswith(f"{run.profile.blocks}."):
            label = f"{m.name} ({_block_kind(run, m)} block)"
        detail = f"-> {_output(m)}, allocates {fmt_bytes(nbytes)} in all"
        g.add_node(m.name, **_node_attrs(label, detail, m.stage, nbytes, _holds_peak(run, m.first_op, m.last_op), "overview"))
        g.nodes[m.name]["shape"] = _shape(out.shape) if out else ""
        g.nodes[m.name]["flops"] = int(m.flops)
        if previous is not None:
            g.add_edge(previous, m.name)
        previous = m.name
    return g


def first_block(run: RunRecord, kind: str) -> ModuleRecord | None:
    for m in overview_modules(run):
        if run.profile.blocks and m.name.startswith(f"{run.profile.blocks}.") and m.stage == f"{kind}_attention":
            return m
    return None


def _detail_ops(run: RunRecord, block: ModuleRecord) -> list[tuple[OpRecord, int]]:
    """The block's attention ops with shapes, repeats (q, k, v take the same path) folded: (op, count)."""
    prefix = f"{block.name}.attention"
    ops = [o for o in run.ops if block.first_op <= o.index <= block.last_op]
    picked: list[tuple[OpRecord, int]] = []
    seen: dict[tuple[str, tuple[int, ...]], int] = {}
    for o in ops:
        direct = o.module == prefix or o.module.startswith(prefix + ".attention")
        if not direct or o.op in _SKIP_OPS or not o.outputs:
            continue
        key = (o.op, tuple(o.outputs[0].shape))
        if key in seen:
            i = seen[key]
            picked[i] = (picked[i][0], picked[i][1] + 1)
            continue
        seen[key] = len(picked)
        picked.append((o, 1))
    return picked


def detail_graph(run: RunRecord, kind: str) -> nx.DiGraph:
    """One block of `kind` (temporal or spatial): its layers and its reshapes down to the attention matrix."""
    g = nx.DiGraph(name=f"{kind}_block")
    block = first_block(run, kind)
    if block is None:
        return g
    nodes: list[tuple[str, dict[str, object]]] = []
    children = [m for m in run.modules if m.name.startswith(block.name + ".") and m.depth == block.depth + 1]
    ops = _detail_ops(run, block) if run.ops else []
    attention = next((m for m in children if m.name.endswith(".attention")), None)
    for m in sorted(children, key=lambda m: m.order):
        if m is attention and ops:
            nodes += [_op_node(run, kind, o, n) for o, n in ops]
            continue
        detail = f"{m.type} -> {_output(m)}, allocates {fmt_bytes(m.alloc_bytes)}"
        peak = _holds_peak(run, m.first_op, m.last_op) and not ops
        nodes.append((f"{kind}:{m.name}", _node_attrs(m.name, detail, m.stage, m.alloc_bytes, peak, kind)))
    previous = None
    for name, attrs in nodes:
        g.add_node(name, **attrs)
        if previous is not None:
            g.add_edge(previous, name)
        previous = name
    return g


def _op_node(run: RunRecord, kind: str, o: OpRecord, count: int) -> tuple[str, dict[str, object]]:
    shape = _shape(o.outputs[0].shape)
    times = f" (x{count}: q, k, v)" if count == 3 else (f" (x{count})" if count > 1 else "")
    label = f"#{o.index} {o.op}{times}"
    detail = f"-> {shape}" + (f", allocates {fmt_bytes(o.alloc_bytes)}" if o.alloc_bytes else " (view)")
    if o.op in ("aten.bmm", "aten._softmax") and len(o.outputs[0].shape) >= 3 and o.outputs[0].shape[-1] == o.outputs[0].shape[-2]:
        detail += "  attention matrix"
    return f"{kind}:op{o.index}", _node_attrs(label, detail, o.stage, o.alloc_bytes, o.index == run.peak_view.op_index, kind)


def combined_graph(run: RunRecord) -> nx.DiGraph:
    """Overview plus both detail views, each detail chain linked from its block: what GraphML/DOT export."""
    g = overview_graph(run)
    for kind in ("temporal", "spatial"):
        detail = detail_graph(run, kind)
        g = nx.compose(g, detail)
        block = first_block(run, kind)
        if block is not None and len(detail):
            g.add_edge(block.name, next(iter(detail.nodes)), kind="detail")
    for _, attrs in g.nodes(data=True):
        attrs.setdefault("shape", "")
        attrs.setdefault("flops", 0)
    return g


def xml_safe_graph(g: nx.DiGraph) -> nx.DiGraph:
    """A copy of `g` whose node names and string attributes are valid XML 1.0 text (xmltext.py)."""
    names = {node: xml_text(str(node)) for node in g.nodes}
    safe = nx.relabel_nodes(g, names, copy=True)
    for _, attrs in safe.nodes(data=True):
        for key, value in attrs.items():
            if isinstance(value, str):
                attrs[key] = xml_text(value)
    for _, _, attrs in safe.edges(data=True):
        for key, value in attrs.items():
            if isinstance(value, str):
                attrs[key] = xml_text(value)
    safe.graph = {k: xml_text(v) if isinstance(v, str) else v for k, v in safe.graph.items()}
    return safe


def graphml_text(run: RunRecord) -> str:
    buf = io.BytesIO()
    nx.write_graphml(xml_safe_graph(combined_graph(run)), buf)
    return buf.getvalue().decode("utf-8")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_text(run: RunRecord) -> str:
    """Graphviz DOT, written by hand: boxes filled by stage colour, the peak's node outlined in red."""
    g = combined_graph(run)
    lines = ["digraph dstt {", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for name, attrs in g.nodes(data=True):
        label = f"{attrs['label']}\n{attrs['detail']}"
        extra = ', color="#d00000", penwidth=3' if attrs.get("peak") else ""
        lines.append(f"  {_dot_quote(name)} [label={_dot_quote(label)}, fillcolor={_dot_quote(stage_color(str(attrs['stage'])))}{extra}];")
    for a, b, attrs in g.edges(data=True):
        style = " [style=dashed]" if attrs.get("kind") == "detail" else ""
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def chain_svg(g: nx.DiGraph, title: str) -> str:
    """A chain graph drawn top to bottom as an inline <svg>: one box per node, arrows between them."""
    order = list(nx.topological_sort(g)) if len(g) else []
    marker = f"arrow-{g.graph.get('name', 'graph')}"
    width = BOX_W + 20
    height = 30 + len(order) * (BOX_H + GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="sans-serif">',
        f'<text x="10" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i, name in enumerate(order):
        parts.append(_box_svg(g.nodes[name], 10, 26 + i * (BOX_H + GAP)))
        if i:
            y = 26 + i * (BOX_H + GAP)
            parts.append(f'<line x1="{10 + BOX_W // 2}" y1="{y - GAP}" x2="{10 + BOX_W // 2}" y2="{y - 3}" '
                         f'stroke="#444" stroke-width="1.2" marker-end="url(#{marker})"/>')
    parts.insert(1, f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
                    'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>')
    parts.append("</svg>")
    return "\n".join(parts)


def _box_svg(attrs: dict[str, object], x: int, y: int) -> str:
    peak = bool(attrs.get("peak"))
    stroke = 'stroke="#d00000" stroke-width="3"' if peak else 'stroke="#333" stroke-width="0.8"'
    label = str(attrs["label"]) + ("  [PEAK]" if peak else "")
    return (
        f'<g><title>{escape(str(attrs["label"]))}: {escape(str(attrs["detail"]))}</title>'
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{stage_color(str(attrs["stage"]))}" '
        f'fill-opacity="0.55" {stroke}/>'
        f'<text x="{x + 6}" y="{y + 16}" font-size="11" font-weight="bold">{escape(label)}</text>'
        f'<text x="{x + 6}" y="{y + 32}" font-size="10">{escape(str(attrs["detail"]))}</text></g>'
    )


def graph_svgs(run: RunRecord) -> dict[str, str]:
    """Inline SVGs: the overview and the two block detail views (empty views are left out)."""
    use_colours(run)
    chain = f" ({run.profile.blocks} blocks as a chain)" if run.profile.blocks else ""
    views = {"overview": chain_svg(overview_graph(run), f"{run.title}, data-flow order{chain}")}
    for kind in ("temporal", "spatial"):
        g = detail_graph(run, kind)
        block = first_block(run, kind)
        if len(g) and block is not None:
            views[kind] = chain_svg(g, f"{block.name}: one {kind} block in detail")
    return views
