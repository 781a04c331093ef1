"""The layer graph from data flow: the recorder's producer edges, and the graph collapsed from them.

DSTT at t=14 240x432 must show its long skip, a residual add per block and the hierarchical encoder's
`cat`s; a small branching model of the test's own must give exactly its edges at op depth and module
depth. The small model is traced with the recorder, the module tracker and the liveness directly (the
lowest-level engine API).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch import nn
from traces import T14, html_of, profiled, write_report

from dstt_profile.api import run_config
from dstt_profile.engine.hooks import ModuleTracker
from dstt_profile.engine.liveness import Liveness
from dstt_profile.engine.recorder import OpRecorder
from dstt_profile.engine.trace import trace
from dstt_profile.profiles.registry import subject_for
from dstt_profile.records.codec import from_jsonable, to_jsonable
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import FlopsRecord, ModuleRecord, OpRecord, PeakRecord, Result, RunRecord
from dstt_profile.render import graph
from dstt_profile.render.graph import graph_hints

# DSTT at t=14 240x432 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dstt() -> RunRecord:
    return profiled(T14)


def _op(run: RunRecord, module: str, name: str) -> list[OpRecord]:
    return [o for o in run.ops if o.module == module and o.op == name]


def test_recorded_producers_look_through_views(dstt: RunRecord) -> None:
    ops = dstt.ops
    conv = ops[1]
    assert (conv.op, conv.module) == ("aten.convolution", "encoder.0")
    # The input is read through `masked_frames.view(b*t, c, h, w)`: data from before the pass, as are the weights.
    assert [(i.producer, i.shape) for i in conv.inputs] == [(-1, (14, 3, 240, 432)), (-1, (64, 3, 3, 3)), (-1, (64,))]
    assert ops[2].op == "aten.leaky_relu_" and ops[2].producers == (1,)  # in place, on the conv's output
    assert ops[3].producers == (2,)  # the next conv reads the storage leaky_relu_ wrote last
    (skip,) = _op(dstt, "", "aten.add")
    assert [o.op for o in (ops[skip.inputs[0].producer], ops[skip.inputs[1].producer])] == ["aten.leaky_relu_", "aten.col2im"]
    assert ops[skip.inputs[0].producer].module == "hier_enc.layers.9" and ops[skip.inputs[1].producer].module == "vec2patch.to_patch"
    # The temporal block's matmul reads the zoned key through view -> transpose -> expand -> view: its clone.
    first_bmm = _op(dstt, "transformer.0.attention.attention", "aten.bmm")[0]
    clones = _op(dstt, "transformer.0.attention", "aten.clone")
    assert first_bmm.producers == (clones[1].index, clones[0].index)  # query @ key^T
    assert [i.shape for i in first_bmm.inputs] == [(16, 2520, 128), (16, 128, 2520)]  # b*s^2*k = 1*4*4 = 16; t*n/s^2 = 14*720/4 = 2520


def test_depth_1_edges(dstt: RunRecord) -> None:
    g = graph.build_graph(dstt, 1, graph_hints(dstt))
    skip = "#508 aten.add"  # the root's add, between vec2patch's Fold (#507) and the decoder
    assert set(g.edges) == {
        ("encoder", "hier_enc"), ("hier_enc", "patch2vec"), ("hier_enc", skip), ("patch2vec", "transformer"),
        ("transformer", "vec2patch"), ("vec2patch", skip), (skip, "decoder"), ("decoder", "output"),
    }
    edge = g.edges["hier_enc", skip]  # the long skip
    assert edge["shape"] == "14x128x60x108" and edge["bytes"] == 46_448_640  # 14*128*60*108*4
    assert g.in_degree(skip) == 2 and g.nodes[skip]["note"].startswith("long skip")
    assert g.edges["patch2vec", "transformer"]["shape"] == "14x720x512"  # the tokens, read through view + permute


def test_depth_2_nodes_edges_cats_and_peak(dstt: RunRecord) -> None:
    g = graph.build_graph(dstt, hints=graph_hints(dstt))  # the default depth, 2
    # 8 encoder + 10 hier_enc layers + 4 cats + patch2vec + 8 blocks + 2 of vec2patch + the skip add + 7 decoder + output = 42
    assert len(g) == 42
    # encoder chain 7 + encoder.7 -> layers.0 and the 4 cats 5 + hier_enc chain through the cats 13
    # + layers.9 -> patch2vec, skip 2 + patch2vec -> block 0 1 + blocks 7 + block 7 -> vec2patch 1 + vec2patch 1
    # + Fold -> skip 1 + skip -> decoder 1 + decoder chain 6 + decoder.6 -> output 1 = 46
    assert g.number_of_edges() == 46
    assert g.has_edge("hier_enc.layers.9", "#508 aten.add") and g.has_edge("vec2patch.to_patch", "#508 aten.add")
    cats = [n for n in g if n.endswith("aten.cat")]
    assert cats == ["#13 aten.cat", "#19 aten.cat", "#25 aten.cat", "#31 aten.cat"]
    for k, cat in enumerate(cats):
        assert set(g.predecessors(cat)) == {"encoder.7", f"hier_enc.layers.{2 * k + 1}"}  # encoder output, running output
        assert list(g.successors(cat)) == [f"hier_enc.layers.{2 * k + 2}"]
    groups = (2, 4, 8, 1)  # HIER_GROUPS after the first conv: encoder features viewed as (bt, g, c/g, h, w)
    for cat, gr in zip(cats, groups, strict=True):
        edge = g.edges["encoder.7", cat]
        assert edge["shape"] == f"14x{gr}x{256 // gr}x60x108" and edge["bytes"] == 92_897_280  # 14*256*60*108*4
        assert g.edges[cat, next(g.successors(cat))]["shape"] == "14x512x60x108"
    assert [n for n, a in g.nodes(data=True) if a["peak"]] == ["decoder.4"]  # allocator peak: op #515 in decoder.4.conv
    assert g.nodes["transformer.0"]["note"] == "temporal block" and g.nodes["transformer.1"]["note"] == "spatial block"
    assert nx.is_directed_acyclic_graph(g)


def test_depth_3_residual_adds(dstt: RunRecord) -> None:
    g = graph.build_graph(dstt, 3, graph_hints(dstt))
    adds = [n for n in g if n.endswith("aten.add") and n != "#508 aten.add"]
    assert len(adds) == 16  # 2 per block, 8 blocks
    for b in range(8):
        first, second = [n for n in adds if g.nodes[n]["first_op"] in {o.index for o in _op(dstt, f"transformer.{b}", "aten.add")}]
        assert set(g.predecessors(first)) == {f"transformer.{b}.norm1", f"transformer.{b}.attention"}  # x + attention(x)
        assert set(g.predecessors(second)) == {first, f"transformer.{b}.ffn"}  # x + ffn(norm2(x))
        assert g.in_degree(first) == g.in_degree(second) == 2
        assert g.edges[first, second]["shape"] == "14x720x512" and g.edges[first, second]["bytes"] == 20_643_840  # 14*720*512*4


def test_block_opens_to_its_linears_and_reshapes(dstt: RunRecord) -> None:
    hints = graph_hints(dstt)
    assert graph.expandable(graph.build_graph(dstt, hints=hints)) == [f"transformer.{b}" for b in range(8)] + ["decoder.0", "decoder.4"]
    inner = graph.interior_graph(dstt, "transformer.0", hints)
    linears = [n for n, a in inner.nodes(data=True) if a["type"] == "aten.addmm"]
    assert [inner.nodes[n]["detail"].split(",")[0] for n in linears] == [
        "in attention.key_embedding", "in attention.query_embedding", "in attention.value_embedding",
        "in attention.output_linear", "in ffn.conv.0", "in ffn.conv.3",
    ]
    # The zoning: the key's 14x720x512 (as 10080x512) -> 8-D view permuted and copied -> 1x4x4x2520x128 read by bmm
    key, query = linears[0], linears[1]
    (zone,) = inner.successors(key)
    assert inner.edges[key, zone]["shape"] == "1x2x2x4x14x10x18x128"  # (b, s, s, k, t, h'/s, w'/s, d/k)
    assert inner.nodes[zone]["shape"] == "1x2x2x4x14x10x18x128"
    (scores,) = [n for n, a in inner.nodes(data=True) if a["type"] == "aten.bmm" and a["note"] == "attention matrix"]
    assert inner.nodes[scores]["shape"] == "16x2520x2520" and inner.nodes[scores]["bytes"] == 406_425_600  # 16*2520^2*4
    assert nx.has_path(inner, query, scores) and nx.has_path(inner, key, scores)
    assert set(inner.predecessors(linears[0])) == {"#38 aten.native_layer_norm"}
    assert ("from patch2vec", "#38 aten.native_layer_norm") in inner.edges
    assert [n for n in inner if n.startswith("to ")] == ["to transformer.1"]


def test_graphml_and_dot_hold_the_drawn_graph(dstt: RunRecord, tmp_path: Path) -> None:
    paths = write_report(Result(runs=(dstt,)), tmp_path, "dstt_t2_64x64_float32")
    drawn = graph.build_graph(dstt, hints=graph_hints(dstt))
    saved = nx.read_graphml(next(p for p in paths if p.suffix == ".graphml"))
    assert set(saved.nodes) == set(drawn.nodes) and set(saved.edges) == set(drawn.edges)
    assert saved.edges["hier_enc.layers.9", "#508 aten.add"]["bytes"] == 46_448_640
    dot = next(p for p in paths if p.suffix == ".dot").read_text(encoding="utf-8")
    assert dot.startswith("digraph dstt {") and len(re.findall(r'^  "[^"]*" -> "[^"]*" \[', dot, flags=re.M)) == 46
    assert '"hier_enc.layers.9" -> "#508 aten.add" [label="14x128x60x108, 44.3 MiB"];' in dot
    html = paths[0].read_text(encoding="utf-8")
    assert html.count('class="figure graph-detail"') == 10  # 8 blocks, decoder.0 and decoder.4 (upsample + conv)
    assert html.count('data-expand="graph-node-') == 10


def test_edges_do_not_depend_on_t() -> None:
    small = [trace(run, subject_for(run)) for run in (run_config(t, "64x64") for t in (2, 5))]
    a, b = ([o.producers for o in tr.ops] for tr in small)
    assert a == b and len(a) == len(small[0].ops)


def test_saved_without_inputs_loads_and_says_so(dstt: RunRecord) -> None:
    data = to_jsonable(dstt.ops[1])
    del data["inputs"]
    assert from_jsonable(OpRecord, data).inputs == ()
    old = replace(dstt, ops=tuple(replace(o, inputs=()) for o in dstt.ops))
    html = html_of(Result(runs=(old,)))
    assert "saved before the ops&#39; inputs were recorded" in html and 'class="figure graph-main"' not in html


# A small branching model, traced with the engine's lowest-level API -----------------------------------


class Branchy(nn.Module):
    """stem -> (left: conv, relu) and (right: 1x1 conv); add the two; cat with the stem; head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.left = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.right = nn.Conv2d(4, 4, 1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        merged = self.left(s) + self.right(s)
        return self.head(torch.cat([merged, s], 1).view(1, 8, 8, 8))  # type: ignore[no-any-return]


def _trace_module(model: nn.Module, x: torch.Tensor) -> RunRecord:
    liveness = Liveness()
    liveness.mark_external([*model.parameters(), x])
    tracker = ModuleTracker(model)
    recorder = OpRecorder(tracker, liveness, stage_of=lambda name: None, first_stage="model", real=True)
    with tracker, torch.no_grad(), recorder:
        model(x)
    liveness.close()
    modules = tuple(
        ModuleRecord(c.name, c.type, "model", c.depth, c.order, c.calls, c.params, c.inputs, c.outputs, c.flops,
                     c.other_flops, c.alloc_bytes, c.first_op, c.last_op)
        for c in tracker.calls.values()
    )
    peak = max(recorder.ops, key=lambda o: o.allocator_bytes)
    return RunRecord(RunConfig(frames=1), 0, FlopsRecord(0, {}, 0, {}, {}), PeakRecord(peak.allocator_bytes, "model", peak.op, peak.index, peak.module),
                     {}, modules=modules, ops=tuple(recorder.ops))


@pytest.fixture(scope="module")
def branchy() -> RunRecord:
    torch.manual_seed(0)
    return _trace_module(Branchy(), torch.rand(1, 3, 8, 8))


def test_branchy_ops_as_recorded(branchy: RunRecord) -> None:
    assert [(o.index, o.op, o.module) for o in branchy.ops] == [
        (0, "aten.convolution", "stem"), (1, "aten.convolution", "left.0"), (2, "aten.relu", "left.1"),
        (3, "aten.convolution", "right"), (4, "aten.add", ""), (5, "aten.cat", ""), (6, "aten.view", ""),
        (7, "aten.convolution", "head"),
    ]
    assert [o.producers for o in branchy.ops] == [(), (0,), (1,), (0,), (2, 3), (4, 0), (5,), (5,)]  # head reads cat through the view


def test_branchy_edges_at_op_depth(branchy: RunRecord) -> None:
    g = graph.build_graph(branchy, graph.OPS)
    n = {o.index: graph.op_node(o) for o in branchy.ops}
    # 8 ops, the view (#6) draws nothing: 7 nodes; 8 edges, the cat's second input the stem's output
    assert list(g.nodes) == [n[i] for i in (0, 1, 2, 3, 4, 5, 7)]
    assert set(g.edges) == {(n[0], n[1]), (n[1], n[2]), (n[0], n[3]), (n[2], n[4]), (n[3], n[4]), (n[4], n[5]), (n[0], n[5]), (n[5], n[7])}
    assert g.edges[n[0], n[5]]["shape"] == "1x4x8x8" and g.edges[n[0], n[5]]["bytes"] == 1024  # 1*4*8*8 elements * 4 B
    assert g.edges[n[5], n[7]]["shape"] == "1x8x8x8" and g.edges[n[5], n[7]]["bytes"] == 2048  # 1*8*8*8 elements * 4 B


def test_branchy_edges_at_module_depths(branchy: RunRecord) -> None:
    add, cat = "#4 aten.add", "#5 aten.cat"
    one = graph.build_graph(branchy, 1)
    assert list(one.nodes) == ["stem", "left", "right", add, cat, "head"]
    assert set(one.edges) == {("stem", "left"), ("stem", "right"), ("left", add), ("right", add), (add, cat), ("stem", cat), (cat, "head")}
    assert one.in_degree(add) == one.in_degree(cat) == 2
    assert one.nodes["left"]["bytes"] == 2048  # conv and relu outputs: 2 * 1*4*8*8 * 4 B
    two = graph.build_graph(branchy, 2)  # left opens to its conv and relu; stem, right and head are leaves
    assert set(two.edges) == {("stem", "left.0"), ("left.0", "left.1"), ("stem", "right"), ("left.1", add),
                              ("right", add), (add, cat), ("stem", cat), (cat, "head")}
    assert graph.expandable(one) == ["left"]
    inner = graph.interior_graph(branchy, "left", graph.GraphHints(depth=1))
    assert set(inner.edges) == {("from stem", "#1 aten.convolution"), ("#1 aten.convolution", "#2 aten.relu"), ("#2 aten.relu", "to #4 aten.add")}
    assert len(re.findall(r'^  "[^"]*" -> "[^"]*" \[', graph.dot_text(branchy, graph.GraphHints(depth=1)), flags=re.M)) == 7
    svg = graph.graph_svg(one, "branchy", "b")
    assert svg.count('<g class="node">') == 6 and svg.count('class="edge') == 7
    assert json.dumps(to_jsonable(branchy.ops[4].inputs)) == (
        '[{"producer": 2, "shape": [1, 4, 8, 8], "dtype": "float32"}, {"producer": 3, "shape": [1, 4, 8, 8], "dtype": "float32"}]'
    )
