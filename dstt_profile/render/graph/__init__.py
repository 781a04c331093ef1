"""The layer graph, from data flow: records in, a networkx DiGraph out (build.py), drawn as inline SVG
(svg.py) and written as GraphML and DOT (export.py).

Nodes are the run's modules collapsed at a depth of the call tree (1: the top-level modules, 2: their
children, ...; `OPS`: every op its own node); an op that runs directly in a module shallower than the
depth, beside that module's children (a `cat` between two convolutions, a residual add), is a node of
its own. Edges carry the tensors read across them (`OpRecord.inputs`), with their shape as read and their
bytes; ops that only make views draw no node. Only the forward pass is drawn. Nothing here knows a model:
its words and colours come in `GraphHints`, which hints.py builds from the run's `ProfileRecord`.
"""

from dstt_profile.render.graph.build import OPS, GraphHints, build_graph, expandable, interior_graph, op_node
from dstt_profile.render.graph.export import dot_text, graphml_text
from dstt_profile.render.graph.hints import graph_hints
from dstt_profile.render.graph.svg import graph_svg, report_views

__all__ = ["OPS", "GraphHints", "build_graph", "dot_text", "expandable", "graph_hints", "graph_svg", "graphml_text",
           "interior_graph", "op_node", "report_views"]
