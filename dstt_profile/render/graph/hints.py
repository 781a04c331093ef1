"""The graph's hints for one run, from its `ProfileRecord` alone (a saved result gets those that wrote it)."""

from __future__ import annotations

import re

from dstt_profile.records.schema import BACKWARD, OpNote, OpRecord, RunRecord
from dstt_profile.render.colours import stage_colours
from dstt_profile.render.graph.build import GraphHints, op_node


def graph_hints(run: RunRecord) -> GraphHints:
    words = run.profile.graph
    notes: dict[str, str] = {}
    for note in words.module_notes:
        pattern = re.compile(note.module)
        for m in run.modules:
            if m.name not in notes and pattern.fullmatch(m.name) and (not note.stage or m.stage == note.stage):
                notes[m.name] = note.words
    rules = [(re.compile(n.module), n) for n in words.op_notes]
    for o in run.ops:
        if o.stage == BACKWARD:
            break
        found = next((n.words for pattern, n in rules if _matches(o, pattern, n)), None)
        if found is not None:
            notes[op_node(o)] = found
    return GraphHints(run.profile.name or "model", f"{run.title} layer graph, data flow of the forward pass",
                      words.depth, notes, frozenset({BACKWARD}), stage_colours(run.profile))


def _matches(op: OpRecord, module: re.Pattern[str], note: OpNote) -> bool:
    """`note` is `op`'s: one of its ops, run directly in its module, with a square output where it asks one."""
    if op.op not in note.ops or not module.fullmatch(op.module):
        return False
    shape = op.outputs[0].shape if op.outputs else ()
    return not note.square or (len(shape) >= 3 and shape[-1] == shape[-2] > 1)
