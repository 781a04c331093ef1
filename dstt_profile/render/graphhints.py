"""The layer graph's hints for one run, from its `ProfileRecord` alone: the name and title, the depth
drawn first, each node's note (the profile's module and op notes applied to the run's modules and
forward ops) and the stage colours. A saved result gets the same hints as the run that wrote it.
"""

from __future__ import annotations

import re

from dstt_profile.records.schema import BACKWARD, OpNote, OpRecord, RunRecord
from dstt_profile.render.colours import stage_colours
from dstt_profile.render.graph import GraphHints, op_node


def graph_hints(run: RunRecord) -> GraphHints:
    """The hints of `run`'s profile, with its notes resolved to node names."""
    profile = run.profile
    words = profile.graph
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
    return GraphHints(
        name=profile.name or "model",
        title=f"{run.title} layer graph, data flow of the forward pass",
        depth=words.depth,
        notes=notes,
        skip_stages=frozenset({BACKWARD}),
        colours=stage_colours(profile),
    )


def _matches(op: OpRecord, module: re.Pattern[str], note: OpNote) -> bool:
    if op.op not in note.ops or not module.fullmatch(op.module):
        return False
    return not note.square or (bool(op.outputs) and _square(op.outputs[0].shape))


def _square(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 3 and shape[-1] == shape[-2] and shape[-1] > 1
