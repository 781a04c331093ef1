"""The layer graph, from data flow: records in, a networkx DiGraph out, drawn as inline SVG and exported
as GraphML and DOT.

Nodes are the run's modules collapsed at a chosen depth of the call tree (depth 1: the top-level modules,
2: their children, ...; `OPS`: every op its own node). An op that runs directly in a module shallower
than the depth, beside that module's children (a `cat` between two convolutions, a residual add in a
block, the skip add in the root), is a node of its own. Edges are data flow between nodes, from each
op's recorded inputs (`OpRecord.inputs`): an edge carries the tensors read across it, with their shape
as read and their bytes. A view is the data of the op that wrote it, so ops that only make views draw
no node. Only the forward pass is drawn.

Nothing here knows a particular model: module names and producer edges alone make the graph, and any
model-specific wording and colours come in through `GraphHints`, which graphhints.py builds from a
run's `ProfileRecord`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import networkx as nx

from dstt_profile.records.schema import OpRecord, RunRecord
from dstt_profile.render.colours import colour_of
from dstt_profile.render.xmltext import xml_text
from dstt_profile.units import fmt_bytes, fmt_count

OPS = 0  # the depth at which nothing is collapsed: every op that carries data is its own node

_ITEMSIZE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "complex64": 8, "complex128": 16,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
}
_FLOATING = frozenset({"float64", "float32", "float16", "bfloat16"})


@dataclass(frozen=True)
class GraphHints:
    """What a model's profile may add to its graph: names and wording, never structure."""

    name: str = "model"  # the graph's name in DOT and GraphML
    title: str = "layer graph"
    depth: int = 2  # the depth drawn first and exported
    notes: Mapping[str, str] = field(default_factory=dict)  # node name -> a few words shown beside it
    skip_stages: frozenset[str] = frozenset({"backward"})  # stages whose ops are not drawn
    colours: Mapping[str, str] = field(default_factory=dict)  # stage -> box fill (render/colours.py)


# The module tree ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleTree:
    """Modules by call nesting: a module's parent is the nearest enclosing module that ran ("" the root).

    Containers that never run themselves (a ModuleList) are skipped, so depths count modules that ran."""

    parent: Mapping[str, str]
    depth: Mapping[str, int]
    inner: frozenset[str]  # modules with children that ran
    types: Mapping[str, str]

    def ancestor(self, module: str, depth: int) -> str:
        """`module`'s enclosing module at `depth` (itself at its own depth)."""
        while self.depth[module] > depth:
            module = self.parent[module]
        return module


def module_tree(run: RunRecord) -> ModuleTree:
    names = {m.name for m in run.modules} | {o.module for o in run.ops} | {""}
    parent: dict[str, str] = {}
    for name in names:
        parts = name.split(".") if name else []
        up = ""
        for cut in range(len(parts) - 1, 0, -1):
            candidate = ".".join(parts[:cut])
            if candidate in names:
                up = candidate
                break
        if name:
            parent[name] = up
    depth: dict[str, int] = {"": 0}

    def depth_of(name: str) -> int:
        if name not in depth:
            depth[name] = depth_of(parent[name]) + 1
        return depth[name]

    for name in names:
        depth_of(name)
    types = {m.name: m.type for m in run.modules}
    return ModuleTree(parent, depth, frozenset(parent.values()), types)


# Collapsing ops into nodes -----------------------------------------------------------------------------


def forward_ops(run: RunRecord, hints: GraphHints) -> list[OpRecord]:
    return [o for o in run.ops if o.stage not in hints.skip_stages]


def drawn_ops(ops: Sequence[OpRecord]) -> list[OpRecord]:
    """The ops that carry data: read by another op, allocating storage, or writing in place. The rest
    only make views (or read weights), and their readers read through them."""
    read = {p for o in ops for p in o.producers}
    return [o for o in ops if o.index in read or o.alloc_bytes > 0 or o.op.endswith("_")]


def op_node(op: OpRecord) -> str:
    return f"#{op.index} {op.op}"


def node_of(op: OpRecord, depth: int, tree: ModuleTree) -> str:
    """The node `op` belongs to at `depth`: its module's ancestor there; the op itself where it runs
    directly in the root or in a module that has children and is shallower than `depth`."""
    if depth == OPS:
        return op_node(op)
    module = op.module
    if tree.depth[module] >= depth:
        return tree.ancestor(module, depth)
    if module and module not in tree.inner:
        return module  # a leaf module above the depth (a top-level convolution at depth 2)
    return op_node(op)


def _tensor_bytes(shape: Sequence[int], dtype: str, run: RunRecord) -> int:
    """Bytes of a tensor at the run's dtype (the int8 what-if counts floating tensors at 1 byte)."""
    n = math.prod(shape)
    if run.config.get("dtype") == "int8" and dtype in _FLOATING:
        return n
    return n * _ITEMSIZE.get(dtype, 0)


def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def collapse(run: RunRecord, ops: Sequence[OpRecord], key: Callable[[OpRecord], str | None], name: str) -> nx.DiGraph:
    """The graph of `ops` with each op in node `key(op)` (None: left out). Node figures sum over every
    op of the node; edges come from the drawn ops' inputs, self-loops dropped."""
    g = nx.DiGraph(name=name)
    drawn = drawn_ops(ops)
    carrying = {o.index for o in drawn}
    members: dict[str, list[OpRecord]] = {}
    for o in ops:
        k = key(o)
        if k is not None:
            members.setdefault(k, []).append(o)
    shown = {k for o in drawn if (k := key(o)) is not None}
    where = {o.index: key(o) for o in ops}
    peak = run.peak_view.op_index
    for k in sorted(shown, key=lambda k: members[k][0].index):
        group = members[k]
        first = group[0]
        last = next((o for o in reversed(group) if o.outputs), first)
        out = last.outputs[0] if last.outputs else None
        g.add_node(
            k,
            label=k,
            stage=first.stage,
            bytes=sum(o.alloc_bytes for o in group),
            flops=sum(o.flops for o in group),
            other_flops=sum(o.other_flops for o in group),
            ops=len(group),
            drawn_ops=sum(1 for o in group if o.index in carrying),
            first_op=first.index,
            last_op=group[-1].index,
            shape=_shape(out.shape) if out else "",
            peak=int(any(o.index == peak for o in group)),
        )
    for o in drawn:
        b = where.get(o.index)
        if b is None:
            continue
        for i in o.inputs:
            a = where.get(i.producer)
            if a is None or a == b or a not in shown:
                continue
            if not g.has_edge(a, b):
                g.add_edge(a, b, tensors={})
            g.edges[a, b]["tensors"].setdefault(i.producer, (i.shape, _tensor_bytes(i.shape, i.dtype, run)))
    for _, _, attrs in g.edges(data=True):
        tensors = attrs.pop("tensors")
        attrs["shape"] = ", ".join(_shape(s) for s, _ in tensors.values())
        attrs["bytes"] = sum(b for _, b in tensors.values())
        attrs["tensors"] = len(tensors)
    return g


def _describe_nodes(g: nx.DiGraph, run: RunRecord, tree: ModuleTree, hints: GraphHints, relative_to: str = "") -> None:
    """Each node's `kind`, `type`, `note` and one-line `detail`."""
    by_index = {o.index: o for o in run.ops}
    for name, attrs in g.nodes(data=True):
        op = by_index[attrs["first_op"]] if name.startswith("#") else None
        if op is not None and attrs["ops"] == 1:
            attrs["kind"], attrs["type"] = "op", op.op
            module = op.module[len(relative_to) + 1:] if relative_to and op.module.startswith(relative_to + ".") else op.module
            where = f"in {module}, " if module and op.module != relative_to else ""
        else:
            attrs["kind"], attrs["type"] = "module", tree.types.get(name, "")
            where = f"{attrs['type']}, " if attrs["type"] else ""
        attrs["note"] = hints.notes.get(name, "")
        flops = f", {fmt_count(attrs['flops'])}FLOP" if attrs["flops"] else ""
        made = f"allocates {fmt_bytes(attrs['bytes'])}" if attrs["bytes"] else "allocates nothing (in place)"
        attrs["detail"] = f"{where}-> {attrs['shape']}"
        attrs["cost"] = made + flops


def build_graph(run: RunRecord, depth: int | None = None, hints: GraphHints | None = None) -> nx.DiGraph:
    """The forward pass's data-flow graph with modules collapsed at `depth` (default: the hints'),
    `OPS` for one node per op."""
    hints = hints or GraphHints()
    level = hints.depth if depth is None else depth
    tree = module_tree(run)
    g = collapse(run, forward_ops(run, hints), lambda o: node_of(o, level, tree), hints.name)
    _describe_nodes(g, run, tree, hints)
    return g


def interior_graph(run: RunRecord, node: str, hints: GraphHints | None = None) -> nx.DiGraph:
    """One node of the default-depth graph opened to its ops, with the nodes it reads from and feeds
    shown as `from X` / `to X`."""
    hints = hints or GraphHints()
    tree = module_tree(run)
    ops = forward_ops(run, hints)
    outer = {o.index: node_of(o, hints.depth, tree) for o in ops}
    inside = {i for i, k in outer.items() if k == node}

    def key(o: OpRecord) -> str | None:
        return op_node(o) if o.index in inside else None

    g = collapse(run, ops, key, f"{hints.name}:{node}")
    _describe_nodes(g, run, tree, hints, relative_to=node)
    by_index = {o.index: o for o in ops}
    for o in drawn_ops(ops):
        for i in o.inputs:
            if i.producer < 0:
                continue
            reads_in = o.index in inside and i.producer not in inside
            feeds_out = o.index not in inside and i.producer in inside
            if reads_in:
                a, b = f"from {outer[i.producer]}", op_node(o)
            elif feeds_out:
                a, b = op_node(by_index[i.producer]), f"to {outer[o.index]}"
            else:
                continue
            for end in (a, b):
                if end not in g:
                    g.add_node(end, label=end, kind="boundary", type="", stage="", bytes=0, flops=0, other_flops=0,
                               ops=0, drawn_ops=0, first_op=-1, last_op=-1, shape="", peak=0, note="", detail="", cost="")
            if not g.has_edge(a, b):
                g.add_edge(a, b, shape=_shape(i.shape), bytes=_tensor_bytes(i.shape, i.dtype, run), tensors=1)
    return g


def expandable(g: nx.DiGraph) -> list[str]:
    """Module nodes that hold more than one op carrying data: the ones worth opening."""
    return [n for n, a in g.nodes(data=True) if a.get("kind") == "module" and a["drawn_ops"] > 1]


# Layout and SVG ----------------------------------------------------------------------------------------

BOX_W, BOX_H, COL_GAP, ROW_GAP, MARGIN, TOP, LANE = 280, 48, 16, 30, 10, 30, 14


@dataclass(frozen=True)
class Layout:
    """Box corners by node, the row of each node, and the drawing's size, px."""

    boxes: Mapping[str, tuple[float, float]]
    rows: Mapping[str, int]
    width: float
    height: float
    lanes: Mapping[tuple[str, str], int]  # edges that skip rows -> their lane right of the boxes
    lanes_x: float


def layout(g: nx.DiGraph, min_width: float = 320) -> Layout:
    """Rows are networkx's topological generations, boxes centred in each row in execution order;
    an edge that skips rows runs in a lane right of the boxes (lanes reused where they do not overlap)."""
    generations = [sorted(gen, key=lambda n: (g.nodes[n]["first_op"], n)) for gen in nx.topological_generations(g)]
    widest = max((len(gen) for gen in generations), default=0)
    inner = widest * BOX_W + max(widest - 1, 0) * COL_GAP
    boxes: dict[str, tuple[float, float]] = {}
    rows: dict[str, int] = {}
    for r, gen in enumerate(generations):
        row_w = len(gen) * BOX_W + (len(gen) - 1) * COL_GAP
        x0 = MARGIN + (inner - row_w) / 2
        for i, n in enumerate(gen):
            boxes[n] = (x0 + i * (BOX_W + COL_GAP), TOP + r * (BOX_H + ROW_GAP))
            rows[n] = r
    long_edges = sorted(((a, b) for a, b in g.edges if rows[b] - rows[a] > 1), key=lambda e: (rows[e[0]], rows[e[1]]))
    ends: list[int] = []
    lanes: dict[tuple[str, str], int] = {}
    for a, b in long_edges:
        lane = next((k for k, end in enumerate(ends) if end < rows[a]), len(ends))
        if lane == len(ends):
            ends.append(rows[b])
        else:
            ends[lane] = rows[b]
        lanes[(a, b)] = lane
    lanes_x = MARGIN + inner + 12
    width = lanes_x + len(ends) * LANE + 10
    height = TOP + len(generations) * (BOX_H + ROW_GAP)
    return Layout(boxes, rows, max(width, min_width), height, lanes, lanes_x)


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 3] + "..."


def _edge_text(attrs: Mapping[str, object]) -> str:
    more = f" ({attrs['tensors']} tensors)" if int(str(attrs.get("tensors", 1))) > 1 else ""
    return f"{attrs['shape']}, {fmt_bytes(int(str(attrs['bytes'])))}{more}"


def graph_svg(g: nx.DiGraph, title: str, prefix: str, links: Mapping[str, str] | None = None,
              scale_bytes: int | None = None, colours: Mapping[str, str] | None = None) -> str:
    """`g` drawn as an inline <svg>: boxes filled by stage colour, a bar along each box's foot as long as
    its bytes (against the largest node's, or `scale_bytes`), the peak's node outlined in red; every
    edge labelled with the shape and bytes it carries. A node in `links` is a link to that element id."""
    links = links or {}
    lay = layout(g, min_width=2 * MARGIN + 7.5 * len(title))
    marker = f"{prefix}-arrow"
    most = scale_bytes or max((int(a["bytes"]) for _, a in g.nodes(data=True)), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" role="img" aria-label="{escape(title)}" font-family="sans-serif">',
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
        f'<text x="{MARGIN}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for a, b, attrs in g.edges(data=True):
        parts.append(_edge_svg(lay, a, b, attrs, marker))
    for n, attrs in g.nodes(data=True):
        x, y = lay.boxes[n]
        parts.append(_box_svg(n, attrs, x, y, most, links.get(n), colours or {}))
    parts.append("</svg>")
    return "\n".join(parts)


def _edge_svg(lay: Layout, a: str, b: str, attrs: Mapping[str, object], marker: str) -> str:
    ax, ay = lay.boxes[a]
    bx, by = lay.boxes[b]
    text = escape(_edge_text(attrs))
    tip = f"<title>{escape(a)} -> {escape(b)}: {text}</title>"
    if (a, b) not in lay.lanes:
        x1, y1, x2, y2 = ax + BOX_W / 2, ay + BOX_H, bx + BOX_W / 2, by - 2
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        return (f'<g class="edge">{tip}<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#444" '
                f'stroke-width="1.2" marker-end="url(#{marker})"/>'
                f'<text x="{mx + 5:.0f}" y="{my + 3:.0f}" font-size="9" fill="#333">{text}</text></g>')
    lane_x = lay.lanes_x + lay.lanes[(a, b)] * LANE
    y1, y2 = ay + BOX_H / 2 + 6, by + BOX_H / 2 - 6
    path = f"M{ax + BOX_W:.0f},{y1:.0f} H{lane_x:.0f} V{y2:.0f} H{bx + BOX_W + 2:.0f}"
    return (f'<g class="edge skip">{tip}<path d="{path}" fill="none" stroke="#6a3d9a" stroke-width="1.2" '
            f'marker-end="url(#{marker})"/><text font-size="9" fill="#6a3d9a" '
            f'transform="translate({lane_x + 3:.0f},{y1 + 8:.0f}) rotate(90)">{text}</text></g>')


def _box_svg(name: str, attrs: Mapping[str, object], x: float, y: float, most: int, link: str | None,
             colours: Mapping[str, str]) -> str:
    peak = bool(attrs.get("peak"))
    boundary = attrs.get("kind") == "boundary"
    stroke = 'stroke="#d00000" stroke-width="3"' if peak else 'stroke="#333" stroke-width="0.8"'
    if boundary:
        stroke += ' stroke-dasharray="4 3"'
    fill = "#ffffff" if boundary else colour_of(colours, str(attrs["stage"]))
    note = f"  {attrs['note']}" if attrs.get("note") else ""
    head = _fit(str(attrs["label"]) + note + ("  [PEAK]" if peak else ""), 46)
    detail = _fit(str(attrs.get("detail", "")), 54)
    cost = _fit(str(attrs.get("cost", "")), 54)
    bar = min(1.0, int(str(attrs["bytes"])) / most) * (BOX_W - 2)
    tip = f"{attrs['label']}{note}: {attrs.get('detail', '')}; {attrs.get('cost', '')}" + (" (holds the peak)" if peak else "")
    inner = (
        f'<title>{escape(tip)}</title>'
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{fill}" fill-opacity="0.55" {stroke}/>'
        + (f'<rect x="{x + 1:.0f}" y="{y + BOX_H - 5:.0f}" width="{bar:.1f}" height="4" fill="#333" fill-opacity="0.6"/>' if bar else "")
        + f'<text x="{x + 6:.0f}" y="{y + 15:.0f}" font-size="11" font-weight="bold">{escape(head)}</text>'
        f'<text x="{x + 6:.0f}" y="{y + 28:.0f}" font-size="9.5">{escape(detail)}</text>'
        f'<text x="{x + 6:.0f}" y="{y + 40:.0f}" font-size="9.5">{escape(cost)}</text>'
    )
    if link is None:
        return f'<g class="node">{inner}</g>'
    return (f'<a class="graph-expand" href="#{link}" data-expand="{link}" aria-expanded="false" '
            f'aria-label="{escape(str(attrs["label"]))}: show its ops">'
            f'<g class="node">{inner}<text x="{x + BOX_W - 14:.0f}" y="{y + 15:.0f}" font-size="12" '
            f'font-weight="bold" fill="#1f4e9c">+</text></g></a>')


# The report's views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphView:
    """One drawing of the report: the graph at the default depth, or one node opened to its ops."""

    id: str
    node: str
    title: str
    svg: str


def report_views(run: RunRecord, hints: GraphHints | None = None) -> tuple[GraphView, list[GraphView]]:
    """The graph at the hints' depth, with a link on every node worth opening, and one view per such
    node opened to its ops (all drawn here, so the page reads without its script)."""
    hints = hints or GraphHints()
    g = build_graph(run, hints=hints)
    opened = expandable(g)
    ids = {n: f"graph-node-{i}" for i, n in enumerate(opened)}
    scale = max((int(a["bytes"]) for _, a in g.nodes(data=True)), default=0) or None
    main = GraphView("graph-main", "", f"{hints.title} (depth {hints.depth})",
                     graph_svg(g, f"{hints.title} (depth {hints.depth})", "graph-main", ids, scale, hints.colours))
    details = []
    for n in opened:
        inner = interior_graph(run, n, hints)
        note = f" ({hints.notes[n]})" if n in hints.notes else ""
        title = f"{n}{note}: its ops"
        details.append(GraphView(ids[n], n, title, graph_svg(inner, title, ids[n], scale_bytes=scale, colours=hints.colours)))
    return main, details


# GraphML and DOT ---------------------------------------------------------------------------------------


def export_graph(run: RunRecord, hints: GraphHints | None = None) -> nx.DiGraph:
    """What GraphML and DOT hold: the graph at the hints' depth, as the report draws it first."""
    return build_graph(run, hints=hints)


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


def graphml_text(run: RunRecord, hints: GraphHints | None = None) -> str:
    buf = io.BytesIO()
    nx.write_graphml(xml_safe_graph(export_graph(run, hints)), buf)
    return buf.getvalue().decode("utf-8")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_id(text: str) -> str:
    return text if text.isidentifier() else _dot_quote(text)


def dot_text(run: RunRecord, hints: GraphHints | None = None) -> str:
    """Graphviz DOT, written by hand: boxes filled by stage colour, the peak's node outlined in red,
    edges labelled with the shape and bytes they carry."""
    hints = hints or GraphHints()
    g = export_graph(run, hints)
    lines = [f"digraph {_dot_id(hints.name)} {{", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=9];']
    for name, attrs in g.nodes(data=True):
        note = f"  {attrs['note']}" if attrs["note"] else ""
        label = f"{attrs['label']}{note}\n{attrs['detail']}\n{attrs['cost']}"
        extra = ', color="#d00000", penwidth=3' if attrs.get("peak") else ""
        lines.append(f"  {_dot_quote(name)} [label={_dot_quote(label)}, fillcolor={_dot_quote(colour_of(hints.colours, str(attrs['stage'])))}{extra}];")
    for a, b, attrs in g.edges(data=True):
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)} [label={_dot_quote(_edge_text(attrs))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"

