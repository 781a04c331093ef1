"""The IR beside PyTorch. The saved IR is read back by the IR reader (dstt_profile/ir/), its layers put in
stages by the run's own stage map (a node name `__module.X.Y/...` names module X.Y; a layer naming none is
the running stage's, as PyTorch's glue ops are) and each stage's headline found in it by the run's own
headline rules; per stage the two headlines agree when their shapes are equal, and the difference is
named where they are not. Also the two runtimes' outputs on the same input."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dstt_profile.engine.hooks import tensors
from dstt_profile.errors import TraceError
from dstt_profile.ir.reader import read_ir
from dstt_profile.ir.stages import Found, Naming, View, assign, kinds_of
from dstt_profile.profiles.base import ModelProfile
from dstt_profile.records.openvino import OpenVinoStageRecord
from dstt_profile.records.schema import RunRecord, StageRecord

GROUPING = ("the saved IR read by the IR reader; a layer is in the stage of the module its node name names "
            "(`__module.X.Y/...` -> X.Y) by the run's own stage map, a layer naming none in the running stage; "
            "each stage's IR headline found by the run's own headline rules")


def _dims(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape)) if shape else "a scalar"


def ir_view(xml: Path, profile: ModelProfile) -> View:
    """The IR at `xml`, its layers in the stages of `profile`'s stage map, headlines by its rules."""
    model = read_ir(xml)
    kinds = kinds_of(model)
    names = Naming(profile.name, profile.title, profile.stages, profile.stage_of, True, GROUPING,
                   dict(profile.headlines))
    return View(model, kinds, assign(model, names, kinds), names)


def stage_row(stage: StageRecord, found: Found, layers: int) -> OpenVinoStageRecord:
    """One stage: PyTorch's headline beside the IR's (`found`), agreeing where the shapes are equal."""
    port = found.port
    present = port is not None and port.static and found.layer is not None
    shape = tuple(port.dims) if port is not None and present else ()
    elements = math.prod(shape) if present else 0
    if not present:
        difference = f"the IR holds no {found.what or 'headline'} for it: {found.note or 'its shape is dynamic'}"
    elif shape != tuple(stage.shape):
        difference = (f"the IR's headline ({found.what}) is {_dims(shape)} ({elements:,} elements), PyTorch's "
                      f"{_dims(stage.shape)} ({stage.elements:,} elements)")
    else:
        difference = ""
    return OpenVinoStageRecord(name=stage.name, layers=layers, pytorch_shape=tuple(stage.shape),
                               pytorch_elements=stage.elements, pytorch_module=stage.module,
                               ir_layer=found.layer.name if found.layer is not None and present else "",
                               ir_shape=shape, ir_elements=elements, agree=not difference, difference=difference)


def side_by_side(record: RunRecord, view: View) -> tuple[OpenVinoStageRecord, ...]:
    """Every stage of PyTorch's record, in its order, beside the IR's headline of that stage."""
    computed = [layer for layer in view.model.layers if view.kinds[layer.id] == "compute"]
    return tuple(stage_row(stage, view.headline(name), sum(view.stages[lr.id] == name for lr in computed))
                 for name, stage in record.stages.items())


def glue_layers(view: View) -> int:
    """Computing layers whose name names no module of a stage (PyTorch's glue ops: the running stage's)."""
    of = view.names.stage_of
    return sum(1 for layer in view.model.layers if view.kinds[layer.id] == "compute"
               and (layer.module is None or of(layer.module) is None))


NOT_FINITE = -1.0  # an output difference that is not a finite number (an output holds inf or NaN)


def output_differences(reference: Any, outputs: Sequence[np.ndarray]) -> tuple[float, ...]:
    """The largest absolute difference of each output tensor, PyTorch's (`reference`) against OpenVINO's;
    NOT_FINITE where it is not a finite number."""
    mine = tensors(reference)
    if len(mine) != len(outputs):
        raise TraceError(f"OpenVINO's IR gives {len(outputs)} outputs where PyTorch's forward gives {len(mine)}")
    diffs = []
    for i, (ours, theirs) in enumerate(zip(mine, outputs)):
        values = (ours.detach().double() if ours.is_floating_point() else ours.detach()).cpu().numpy()
        if tuple(values.shape) != tuple(theirs.shape):
            raise TraceError(f"output {i}: OpenVINO's is {_dims(theirs.shape)}, PyTorch's {_dims(values.shape)}")
        diff = float(np.max(np.abs(values.astype(np.float64) - theirs.astype(np.float64)))) if values.size else 0.0
        diffs.append(diff if math.isfinite(diff) else NOT_FINITE)
    return tuple(diffs)
