"""The graph: the forward ops collapsed into nodes at a depth of the call tree, edges from their inputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from dstt_profile.records.schema import BACKWARD, OpRecord, RunRecord
from dstt_profile.render.table import dims
from dstt_profile.units import fmt_bytes, fmt_count

OPS = 0  # the depth at which nothing is collapsed: every op that carries data is its own node

_ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "complex64": 8, "complex128": 16,
             "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
_FLOATING = frozenset({"float64", "float32", "float16", "bfloat16"})
_BOUNDARY = {"kind": "boundary", "type": "", "stage": "", "bytes": 0, "flops": 0, "other_flops": 0, "ops": 0,
             "drawn_ops": 0, "first_op": -1, "last_op": -1, "shape": "", "peak": 0, "note": "", "detail": "", "cost": ""}


@dataclass(frozen=True)
class GraphHints:
    """What a model's profile may add to its graph: names and wording, never structure."""

    name: str = "model"  # the graph's name in DOT and GraphML
    title: str = "layer graph"
    depth: int = 2  # the depth drawn first and exported
    notes: Mapping[str, str] = field(default_factory=dict)  # node name -> a few words shown beside it
    skip_stages: frozenset[str] = frozenset({BACKWARD})  # stages whose ops are not drawn
    colours: Mapping[str, str] = field(default_factory=dict)  # stage -> box fill (render/colours.py)


@dataclass(frozen=True)
class ModuleTree:
    """Modules by call nesting: a module's parent is the nearest enclosing module that ran ("" the root);
    containers that never run themselves (a ModuleList) are skipped, so depths count modules that ran."""

    parent: Mapping[str, str]
    depth: Mapping[str, int]
    inner: frozenset[str]  # modules with children that ran
    types: Mapping[str, str]

    def ancestor(self, module: str, depth: int) -> str:
        while self.depth[module] > depth:
            module = self.parent[module]
        return module


def module_tree(run: RunRecord) -> ModuleTree:
    names = {m.name for m in run.modules} | {o.module for o in run.ops} | {""}
    parent = {}
    for name in names - {""}:
        parts = name.split(".")
        ups = (".".join(parts[:cut]) for cut in range(len(parts) - 1, 0, -1))
        parent[name] = next((up for up in ups if up in names), "")
    depth = {"": 0}
    for name in sorted(parent, key=lambda n: n.count(".")):  # a parent has fewer dots than its children
        depth[name] = depth[parent[name]] + 1
    return ModuleTree(parent, depth, frozenset(parent.values()), {m.name: m.type for m in run.modules})


def drawn_ops(ops: Sequence[OpRecord]) -> list[OpRecord]:
    """The ops that carry data: read by another op, allocating storage, or writing in place."""
    read = {p for o in ops for p in o.producers}
    return [o for o in ops if o.index in read or o.alloc_bytes > 0 or o.op.endswith("_")]


def op_node(op: OpRecord) -> str:
    return f"#{op.index} {op.op}"


def node_of(op: OpRecord, depth: int, tree: ModuleTree) -> str:
    """`op`'s node at `depth`: its module's ancestor there; the op itself where it runs directly in the
    root or in a module with children shallower than `depth`."""
    if depth == OPS:
        return op_node(op)
    if tree.depth[op.module] >= depth:
        return tree.ancestor(op.module, depth)
    if op.module and op.module not in tree.inner:
        return op.module  # a leaf module above the depth (a top-level convolution at depth 2)
    return op_node(op)


def edge_text(attrs: Mapping[str, object]) -> str:
    more = f" ({attrs['tensors']} tensors)" if int(str(attrs.get("tensors", 1))) > 1 else ""
    return f"{attrs['shape']}, {fmt_bytes(int(str(attrs['bytes'])))}{more}"


def _tensor_bytes(shape: Sequence[int], dtype: str, run: RunRecord) -> int:
    """Bytes of a tensor at the run's dtype (the int8 what-if counts floating tensors at 1 byte)."""
    n = math.prod(shape)
    return n if run.config.dtype == "int8" and dtype in _FLOATING else n * _ITEMSIZE.get(dtype, 0)


def collapse(run: RunRecord, ops: Sequence[OpRecord], key: Callable[[OpRecord], str | None], name: str) -> nx.DiGraph:
    """The graph of `ops` with each op in node `key(op)` (None: left out): node figures summed over its
    ops, edges from the drawn ops' inputs, self-loops dropped."""
    g = nx.DiGraph(name=name)
    drawn = drawn_ops(ops)
    carrying = {o.index for o in drawn}
    where = {o.index: key(o) for o in ops}
    members: dict[str, list[OpRecord]] = {}
    for o in ops:
        if (k := where[o.index]) is not None:
            members.setdefault(k, []).append(o)
    shown = {k for o in drawn if (k := where[o.index]) is not None}
    peak = run.peak_view.op_index
    for k in sorted(shown, key=lambda k: members[k][0].index):
        group = members[k]
        last = next((o for o in reversed(group) if o.outputs), group[0])
        g.add_node(k, label=k, stage=group[0].stage, bytes=sum(o.alloc_bytes for o in group),
                   flops=sum(o.flops for o in group), other_flops=sum(o.other_flops for o in group), ops=len(group),
                   drawn_ops=sum(1 for o in group if o.index in carrying), first_op=group[0].index,
                   last_op=group[-1].index, shape=dims(last.outputs[0].shape, "scalar") if last.outputs else "",
                   peak=int(any(o.index == peak for o in group)))
    flows: dict[tuple[str, str], dict[int, tuple[Sequence[int], int]]] = {}
    for op, i in ((o, i) for o in drawn for i in o.inputs):
        a, b = where.get(i.producer), where[op.index]
        if a is not None and b is not None and a != b and a in shown:
            flows.setdefault((a, b), {}).setdefault(i.producer, (i.shape, _tensor_bytes(i.shape, i.dtype, run)))
    for (a, b), tensors in flows.items():
        g.add_edge(a, b, shape=", ".join(dims(s, "scalar") for s, _ in tensors.values()),
                   bytes=sum(n for _, n in tensors.values()), tensors=len(tensors))
    return g


def _describe_nodes(g: nx.DiGraph, run: RunRecord, tree: ModuleTree, hints: GraphHints, relative_to: str = "") -> None:
    by_index = {o.index: o for o in run.ops}
    for name, attrs in g.nodes(data=True):
        op = by_index[attrs["first_op"]]
        if name.startswith("#") and attrs["ops"] == 1:
            attrs["kind"], attrs["type"] = "op", op.op
            inside = relative_to and op.module.startswith(relative_to + ".")
            module = op.module[len(relative_to) + 1:] if inside else op.module
            where = f"in {module}, " if module and op.module != relative_to else ""
        else:
            attrs["kind"], attrs["type"] = "module", tree.types.get(name, "")
            where = f"{attrs['type']}, " if attrs["type"] else ""
        attrs["note"] = hints.notes.get(name, "")
        attrs["detail"] = f"{where}-> {attrs['shape']}"
        made = f"allocates {fmt_bytes(attrs['bytes'])}" if attrs["bytes"] else "allocates nothing (in place)"
        attrs["cost"] = made + (f", {fmt_count(attrs['flops'])}FLOP" if attrs["flops"] else "")


def _forward(run: RunRecord, hints: GraphHints) -> list[OpRecord]:
    return [o for o in run.ops if o.stage not in hints.skip_stages]


def build_graph(run: RunRecord, depth: int | None = None, hints: GraphHints | None = None) -> nx.DiGraph:
    """The forward pass's data-flow graph, modules collapsed at `depth` (default the hints'; `OPS`: none)."""
    hints = hints or GraphHints()
    level = hints.depth if depth is None else depth
    tree = module_tree(run)
    g = collapse(run, _forward(run, hints), lambda o: node_of(o, level, tree), hints.name)
    _describe_nodes(g, run, tree, hints)
    return g


def interior_graph(run: RunRecord, node: str, hints: GraphHints | None = None) -> nx.DiGraph:
    """One node of the default-depth graph opened to its ops, its neighbours as `from X` / `to X`."""
    hints = hints or GraphHints()
    tree = module_tree(run)
    ops = _forward(run, hints)
    outer = {o.index: node_of(o, hints.depth, tree) for o in ops}
    inside = {i for i, k in outer.items() if k == node}
    g = collapse(run, ops, lambda o: op_node(o) if o.index in inside else None, f"{hints.name}:{node}")
    _describe_nodes(g, run, tree, hints, relative_to=node)
    by_index = {o.index: o for o in ops}
    for o in drawn_ops(ops):
        for i in o.inputs:
            if i.producer < 0 or (o.index in inside) == (i.producer in inside):
                continue
            if o.index in inside:
                a, b = f"from {outer[i.producer]}", op_node(o)
            else:
                a, b = op_node(by_index[i.producer]), f"to {outer[o.index]}"
            for end in (a, b):
                if end not in g:
                    g.add_node(end, label=end, **_BOUNDARY)
            if not g.has_edge(a, b):
                g.add_edge(a, b, shape=dims(i.shape, "scalar"), bytes=_tensor_bytes(i.shape, i.dtype, run), tensors=1)
    return g


def expandable(g: nx.DiGraph) -> list[str]:
    """Module nodes holding more than one op that carries data: the ones worth opening."""
    return [n for n, a in g.nodes(data=True) if a.get("kind") == "module" and a["drawn_ops"] > 1]
