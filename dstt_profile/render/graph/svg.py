"""The graph drawn as inline SVG, rows by topological generation, and the report's views of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

import networkx as nx

from dstt_profile.records.schema import RunRecord
from dstt_profile.render.colours import colour_of
from dstt_profile.render.graph.build import GraphHints, build_graph, edge_text, expandable, interior_graph

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
    """Rows by topological generation; an edge that skips rows runs in a lane right of the boxes."""
    generations = [sorted(gen, key=lambda n: (g.nodes[n]["first_op"], n)) for gen in nx.topological_generations(g)]

    def row_width(boxes: int) -> int:
        return boxes * BOX_W + max(boxes - 1, 0) * COL_GAP

    inner = row_width(max((len(gen) for gen in generations), default=0))
    boxes: dict[str, tuple[float, float]] = {}
    rows: dict[str, int] = {}
    for r, gen in enumerate(generations):
        x0 = MARGIN + (inner - row_width(len(gen))) / 2
        for i, n in enumerate(gen):
            boxes[n], rows[n] = (x0 + i * (BOX_W + COL_GAP), TOP + r * (BOX_H + ROW_GAP)), r
    ends: list[int] = []  # each lane's last row in use
    lanes: dict[tuple[str, str], int] = {}
    for a, b in sorted(((a, b) for a, b in g.edges if rows[b] - rows[a] > 1), key=lambda e: (rows[e[0]], rows[e[1]])):
        lane = next((k for k, end in enumerate(ends) if end < rows[a]), len(ends))
        ends[lane:lane + 1] = [rows[b]]
        lanes[(a, b)] = lane
    lanes_x = MARGIN + inner + 12
    width = lanes_x + len(ends) * LANE + 10
    return Layout(boxes, rows, max(width, min_width), TOP + len(generations) * (BOX_H + ROW_GAP), lanes, lanes_x)


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 3] + "..."


def largest_bytes(g: nx.DiGraph) -> int:
    return max((int(a["bytes"]) for _, a in g.nodes(data=True)), default=0)


def graph_svg(g: nx.DiGraph, title: str, prefix: str, links: Mapping[str, str] | None = None,
              scale_bytes: int | None = None, colours: Mapping[str, str] | None = None) -> str:
    """`g` as an inline <svg>: a box's foot bar as long as its bytes against the largest node's (or
    `scale_bytes`), the peak's node outlined in red; a node in `links` links to that element id."""
    lay = layout(g, min_width=2 * MARGIN + 7.5 * len(title))
    marker = f"{prefix}-arrow"
    most = scale_bytes or largest_bytes(g) or 1
    size = f'width="{lay.width:.0f}" height="{lay.height:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}"'
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} role="img" aria-label="{escape(title)}" font-family="sans-serif">',
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
        f'<text x="{MARGIN}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        *(_edge_svg(lay, a, b, attrs, marker) for a, b, attrs in g.edges(data=True)),
        *(_box_svg(n, attrs, *lay.boxes[n], most, (links or {}).get(n), colours or {}) for n, attrs in g.nodes(data=True)),
        "</svg>",
    ])


def _edge_svg(lay: Layout, a: str, b: str, attrs: Mapping[str, object], marker: str) -> str:
    (ax, ay), (bx, by) = lay.boxes[a], lay.boxes[b]
    text = escape(edge_text(attrs))
    head = f"<title>{escape(a)} -> {escape(b)}: {text}</title>"
    arrow = f'stroke-width="1.2" marker-end="url(#{marker})"/>'
    if (a, b) not in lay.lanes:
        x1, y1, x2, y2 = ax + BOX_W / 2, ay + BOX_H, bx + BOX_W / 2, by - 2
        return (f'<g class="edge">{head}<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#444" '
                f'{arrow}<text x="{(x1 + x2) / 2 + 5:.0f}" y="{(y1 + y2) / 2 + 3:.0f}" font-size="9" fill="#333">{text}</text></g>')
    lane_x = lay.lanes_x + lay.lanes[(a, b)] * LANE
    y1, y2 = ay + BOX_H / 2 + 6, by + BOX_H / 2 - 6
    path = f"M{ax + BOX_W:.0f},{y1:.0f} H{lane_x:.0f} V{y2:.0f} H{bx + BOX_W + 2:.0f}"
    return (f'<g class="edge skip">{head}<path d="{path}" fill="none" stroke="#6a3d9a" {arrow}<text font-size="9" '
            f'fill="#6a3d9a" transform="translate({lane_x + 3:.0f},{y1 + 8:.0f}) rotate(90)">{text}</text></g>')


def _box_svg(name: str, attrs: Mapping[str, object], x: float, y: float, most: int, link: str | None,
             colours: Mapping[str, str]) -> str:
    peak, boundary = bool(attrs.get("peak")), attrs.get("kind") == "boundary"
    stroke = 'stroke="#d00000" stroke-width="3"' if peak else 'stroke="#333" stroke-width="0.8"'
    stroke += ' stroke-dasharray="4 3"' if boundary else ""
    fill = "#ffffff" if boundary else colour_of(colours, str(attrs["stage"]))
    note = f"  {attrs['note']}" if attrs.get("note") else ""
    detail, cost = str(attrs.get("detail", "")), str(attrs.get("cost", ""))
    head = _fit(str(attrs["label"]) + note + ("  [PEAK]" if peak else ""), 46)
    small = 'font-size="9.5"'
    lines = [(15, 'font-size="11" font-weight="bold"', head), (28, small, _fit(detail, 54)), (40, small, _fit(cost, 54))]
    bar = min(1.0, int(str(attrs["bytes"])) / most) * (BOX_W - 2)
    tip = f"{attrs['label']}{note}: {detail}; {cost}" + (" (holds the peak)" if peak else "")
    inner = (
        f'<title>{escape(tip)}</title>'
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{fill}" fill-opacity="0.55" {stroke}/>'
        + (f'<rect x="{x + 1:.0f}" y="{y + BOX_H - 5:.0f}" width="{bar:.1f}" height="4" fill="#333" fill-opacity="0.6"/>' if bar else "")
        + "".join(f'<text x="{x + 6:.0f}" y="{y + dy:.0f}" {font}>{escape(text)}</text>' for dy, font, text in lines)
    )
    if link is None:
        return f'<g class="node">{inner}</g>'
    return (f'<a class="graph-expand" href="#{link}" data-expand="{link}" aria-expanded="false" '
            f'aria-label="{escape(str(attrs["label"]))}: show its ops">'
            f'<g class="node">{inner}<text x="{x + BOX_W - 14:.0f}" y="{y + 15:.0f}" font-size="12" '
            f'font-weight="bold" fill="#1f4e9c">+</text></g></a>')


@dataclass(frozen=True)
class GraphView:

    id: str
    node: str
    title: str
    svg: str


def report_views(run: RunRecord, hints: GraphHints | None = None) -> tuple[GraphView, list[GraphView]]:
    """The graph at the hints' depth, and each node worth opening opened to its ops, all drawn."""
    hints = hints or GraphHints()
    g = build_graph(run, hints=hints)
    ids = {n: f"graph-node-{i}" for i, n in enumerate(expandable(g))}
    scale = largest_bytes(g) or None
    title = f"{hints.title} (depth {hints.depth})"
    main = GraphView("graph-main", "", title, graph_svg(g, title, "graph-main", ids, scale, hints.colours))
    details = []
    for n, id_ in ids.items():
        note = f" ({hints.notes[n]})" if n in hints.notes else ""
        title = f"{n}{note}: its ops"
        svg = graph_svg(interior_graph(run, n, hints), title, id_, scale_bytes=scale, colours=hints.colours)
        details.append(GraphView(id_, n, title, svg))
    return main, details
