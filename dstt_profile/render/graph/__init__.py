"""The layer graph of the forward pass, from data flow (README.md): a networkx DiGraph (build.py), drawn
as inline SVG (svg.py), written as GraphML and DOT (export.py); a model's words come in `GraphHints`."""

from dstt_profile.render.graph.build import OPS, GraphHints, build_graph, expandable, interior_graph, op_node
from dstt_profile.render.graph.export import dot_text, graphml_text
from dstt_profile.render.graph.hints import graph_hints
from dstt_profile.render.graph.svg import graph_svg, report_views

__all__ = ["OPS", "GraphHints", "build_graph", "dot_text", "expandable", "graph_hints", "graph_svg", "graphml_text",
           "interior_graph", "op_node", "report_views"]
