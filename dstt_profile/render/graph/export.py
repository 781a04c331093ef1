"""The graph at the hints' depth, as the report draws it first, written as GraphML and as DOT."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import networkx as nx

from dstt_profile.records.schema import RunRecord
from dstt_profile.render.colours import colour_of
from dstt_profile.render.graph.build import GraphHints, build_graph, edge_text
from dstt_profile.render.xmltext import xml_text


def _xml_safe(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: xml_text(v) if isinstance(v, str) else v for k, v in attrs.items()}


def xml_safe_graph(g: nx.DiGraph) -> nx.DiGraph:
    """A copy of `g` whose node names and string attributes are valid XML 1.0 text (xmltext.py)."""
    safe = nx.relabel_nodes(g, {node: xml_text(str(node)) for node in g.nodes}, copy=True)
    for *_, attrs in [*safe.nodes(data=True), *safe.edges(data=True)]:
        attrs.update(_xml_safe(attrs))
    safe.graph = _xml_safe(safe.graph)
    return safe


def graphml_text(run: RunRecord, hints: GraphHints | None = None) -> str:
    buf = io.BytesIO()
    nx.write_graphml(xml_safe_graph(build_graph(run, hints=hints)), buf)
    return buf.getvalue().decode("utf-8")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot_text(run: RunRecord, hints: GraphHints | None = None) -> str:
    """Graphviz DOT, written by hand, drawn as the report's SVG is (svg.py)."""
    hints = hints or GraphHints()
    g = build_graph(run, hints=hints)
    name = hints.name if hints.name.isidentifier() else _quote(hints.name)
    lines = [f"digraph {name} {{", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for node, attrs in g.nodes(data=True):
        note = f"  {attrs['note']}" if attrs["note"] else ""
        label = _quote(f"{attrs['label']}{note}\n{attrs['detail']}\n{attrs['cost']}")
        extra = ', color="#d00000", penwidth=3' if attrs.get("peak") else ""
        lines.append(f"  {_quote(node)} [label={label}, fillcolor={_quote(colour_of(hints.colours, str(attrs['stage'])))}{extra}];")
    lines += [f"  {_quote(a)} -> {_quote(b)} [label={_quote(edge_text(attrs))}];" for a, b, attrs in g.edges(data=True)]
    return "\n".join([*lines, "}"]) + "\n"
