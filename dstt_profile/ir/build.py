"""An IR's record (`records/ir.py`): the clip its shapes are for, every layer's output tensors and FLOPs, the stage
table by the profile's stage map and headlines, and, for DSTT, the same formula checks as the PyTorch run's."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dstt_profile.errors import UsageError
from dstt_profile.ir import costs
from dstt_profile.ir.reader import DTYPE_NAMES, IRModel, Layer, Port, precision_name, read_ir
from dstt_profile.ir.stages import Found, Naming, View, assign, kinds_of, naming
from dstt_profile.ir.static import reshaped
from dstt_profile.profiles.base import FormulaValue
from dstt_profile.profiles.dstt import stages as dstt_stages
from dstt_profile.profiles.dstt.args import DEFAULTS, config_of
from dstt_profile.profiles.dstt.profile import DSTTFormulas
from dstt_profile.records.figures import CheckRecord, StageRecord
from dstt_profile.records.ir import IRClip, IREdge, IRLayerRecord, IRRecord, IRStageRecord, IRTensor
from dstt_profile.records.legacy import DSTT_COLOURS
from dstt_profile.records.runconfig import DTYPES, RunConfig, model_args_of

CLIP_RANK = 5  # (b, t, c, H, W), the clip every profile of this toolkit takes
RELEASED_PATCH = (7, 3, 3)  # patch2vec's kernel, stride, padding: what DSTT's formulas are written for


@dataclass(frozen=True)
class Request:
    """What the command line asked: the IR, the clip's sizes where given, DSTT's heads and zones, a stage map."""

    path: Path
    frames: int | None = None
    res: tuple[int, int] | None = None
    batch: int | None = None
    heads: int | None = None
    zones: int | None = None
    stages: str | None = None

    def given(self) -> str:
        words = [f"--frames {self.frames}" if self.frames else "", f"--res {self.res[0]}x{self.res[1]}" if self.res else "",
                 f"--batch {self.batch}" if self.batch else ""]
        return " ".join(w for w in words if w)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join("?" if d < 0 else str(d) for d in shape) if shape else "scalar"


def _clip_input(model: IRModel) -> Layer | None:
    return next((p for p in model.parameters if p.outputs and len(p.outputs[0].dims) == CLIP_RANK), None)


def _dynamic(model: IRModel) -> list[Layer]:
    return [layer for layer in model.layers if any(not p.static for p in layer.outputs)]


@dataclass(frozen=True)
class Prepared:
    """An IR read, the clip its shapes are for, and the input shape it is still to be given (None: static already)."""

    model: IRModel
    clip: IRClip
    reshape_to: tuple[int, ...] | None = None
    why: str = ""


def prepare(req: Request) -> Prepared:
    """The IR and its clip (UsageError where the IR's static sizes differ from those asked for, or a dynamic IR's
    clip is not given); nothing is reshaped yet."""
    model = read_ir(req.path)
    clip = _clip_input(model)
    if clip is None:
        found = ", ".join(f"{p.name} ({_dims(p.outputs[0].dims) if p.outputs else '-'})" for p in model.parameters) or "none"
        if req.frames or req.res or req.batch:
            raise UsageError(f"{model.path}: --frames, --res and --batch describe a (b, t, c, H, W) clip input, and the "
                             f"IR has none (its inputs: {found})")
        return Prepared(model, IRClip(None, None, None, None, "", (), f"the IR's inputs are not a (b, t, c, H, W) clip: {found}"))
    dims = clip.outputs[0].dims
    asked = (req.batch, req.frames, None, *(req.res or (None, None)))
    if clip.outputs[0].static:
        for (what, option), have, want in zip((("batch", "--batch"), ("t", "--frames"), ("c", ""), ("H", "--res"),
                                              ("W", "--res")), dims, asked):
            if want is not None and want != have:
                raise UsageError(f"{model.path}: the IR's shapes are static, for the input {clip.name} {_dims(dims)} "
                                 f"({what} = {have}); {option} asks for {want}: omit it, or convert the model at that size")
        how = f"given ({req.given()}), as the IR's input layer {clip.name} has them" if req.given() else \
            f"read from the IR's input layer {clip.name}"
        b, t, _c, h, w = dims
        return Prepared(model, IRClip(b, t, h, w, clip.name, dims, f"t, H, W and batch {how} ({_dims(dims)})"))
    if len(model.parameters) != 1:
        raise UsageError(f"{model.path}: the IR's shapes are dynamic and it has {len(model.parameters)} inputs: convert "
                         "the model with a static input shape for each")
    wanted = [req.batch or (dims[0] if dims[0] > 0 else 1), req.frames or dims[1], dims[2] if dims[2] > 0 else 3,
              *(req.res or (dims[3], dims[4]))]
    if any(d < 0 for d in wanted):
        raise UsageError(f"{model.path}: the IR's input {clip.name} is dynamic ({_dims(dims)}): give --frames and --res "
                         "(and --batch) for its shapes to be made static at that clip")
    shape = tuple(wanted)
    b, t, _c, h, w = shape
    return Prepared(model, IRClip(b, t, h, w, clip.name, shape,
                                  f"the IR's input {clip.name} is dynamic ({_dims(dims)}): its shapes made static by "
                                  f"OpenVINO's shape inference at {_dims(shape)} ({req.given() or 'as the IR fixes them'})"),
                    shape, f"the IR's input {clip.name} is dynamic ({_dims(dims)})")


def _tensor(port: Port) -> IRTensor:
    return IRTensor(port.id, port.dims, precision_name(port.precision) if port.precision else "", port.elements, port.bytes)


@dataclass(frozen=True)
class DSTTSizes:
    """DSTT's sizes: read from the IR where its layers show them (patch2vec's weights, the blocks), heads and zones
    given or assumed; `problem` says why no formula can be checked ("" where they can)."""

    args: dict[str, int]
    note: str
    problem: str = ""


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.findall(r"-?\d+", text))


def dstt_sizes(view: View, req: Request) -> DSTTSizes:
    conv = next((lr for lr in view.members.get("patch2vec", []) if lr.type == "Convolution" and len(lr.inputs) > 1), None)
    if conv is None or len(conv.inputs[1].dims) != 4 or not conv.inputs[1].static:
        return DSTTSizes({}, "", "patch2vec's convolution and its weights' shape are not in the IR")
    hidden, folded, kh, kw = conv.inputs[1].dims
    strides, pads = _ints(conv.data.get("strides", "")), _ints(conv.data.get("pads_begin", ""))
    blocks = sum(1 for m in view.modules if re.fullmatch(r"transformer\.\d+", m))
    given = {name: value for name, value in (("heads", req.heads), ("zones", req.zones)) if value is not None}
    args = {"hidden": hidden, "channel": 2 * folded, "blocks": blocks,
            **{k: int(v) for k, v in DEFAULTS.items() if k in ("heads", "zones") and k not in given}, **given}
    note = (f"sizes read from the IR: hidden {hidden}, channel {2 * folded}, blocks {blocks} (patch2vec {kh}x{kw}, "
            f"stride {','.join(map(str, strides)) or '?'}, padding {','.join(map(str, pads)) or '?'})")
    note += "".join(f"; {k} {v} given" for k, v in given.items())
    if assumed := [k for k in ("heads", "zones") if k not in given]:
        note += "; " + ", ".join(f"{k} {args[k]}" for k in assumed) + " assumed (the released defaults; --heads, --zones)"
    patch = (kh, *(strides or (0,)), *(pads or (0,)))
    if kh != kw or set(strides) != {patch[1]} or set(pads) != {patch[2]} or (kh, patch[1], patch[2]) != RELEASED_PATCH:
        return DSTTSizes(args, note, f"patch2vec is {kh}x{kw}, stride {strides}, padding {pads}: DSTT's formulas take "
                         f"{RELEASED_PATCH[0]}x{RELEASED_PATCH[0]}, stride {RELEASED_PATCH[1]}, padding {RELEASED_PATCH[2]}")
    return DSTTSizes(args, note)


def _run_config(clip: IRClip, dtype: str, sizes: DSTTSizes) -> tuple[RunConfig | None, str]:
    """The run DSTT's formulas are evaluated for, or None and why not."""
    if sizes.problem:
        return None, sizes.problem
    if clip.frames is None or clip.height is None or clip.width is None or clip.batch is None:
        return None, "the IR's input is not a (b, t, c, H, W) clip"
    try:
        run = RunConfig(frames=clip.frames, height=clip.height, width=clip.width, batch=clip.batch,
                        dtype=dtype if dtype in DTYPES else "float32", model="dstt", model_args=model_args_of(sizes.args))
        config_of(run)
    except UsageError as exc:
        return None, f"the IR's sizes are not a DSTT network's: {exc}"
    return run, ""


class _Tensors:
    """The formula checks' `tensor(pattern, index)`, remembering the patterns the IR has no tensor for."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.missing: set[str] = set()

    def __call__(self, pattern: str, index: int) -> int:
        found = self.view.tensor(pattern, index)
        if found is None or found[1].elements is None:
            self.missing.add(pattern)
            return 0
        return found[1].elements


def _checks(view: View, run: RunConfig, rows: Mapping[str, IRStageRecord],
            uncosted: Mapping[str, int]) -> tuple[tuple[CheckRecord, ...], tuple[str, ...]]:
    """DSTT's formula checks, and those the IR cannot give a figure for (each with why), never a zero measured."""
    records = {name: StageRecord(name, r.shape, r.elements, r.bytes, r.flops, 0, r.instances, r.share, 0, 0, r.headline,
                                 r.module, r.materialised, r.formula, r.formula_substituted, r.formula_elements, r.match)
               for name, r in rows.items()}
    tensors = _Tensors(view)
    found = DSTTFormulas(config_of).checks(run, records, tensors)
    extra = {f"{name}.elements": pattern for name, (pattern, _i, _w) in dstt_stages.EXTRA_TENSORS.items()}
    kept, skipped = [], []
    for check in found:
        stage, _, unit = check.name.partition(".")
        if unit == "elements" and stage in rows and not rows[stage].found:
            skipped.append(f"{check.name}: {rows[stage].note}")
        elif check.name in extra and extra[check.name] in tensors.missing:
            skipped.append(f"{check.name}: no layer output of a module matching {extra[check.name]!r} in the IR")
        elif unit == "flops" and uncosted.get(stage):
            skipped.append(f"{check.name}: {uncosted[stage]} of its layers have dynamic shapes, not costed")
        else:
            kept.append(check)
    return tuple(kept), tuple(skipped)


def _stage_row(name: str, found: Found, flops: int, layers: int, total: int,
               formula: Callable[[bool], FormulaValue | None]) -> IRStageRecord:
    port, value = found.port, formula(found.materialised)
    shape: tuple[int, ...] = ()
    elements, nbytes, precision = 0, 0, ""
    present = port is not None and port.elements is not None
    if port is not None and port.elements is not None:
        shape, elements, nbytes, precision = port.dims, port.elements, port.bytes or 0, precision_name(port.precision)
    return IRStageRecord(
        name=name, found=present, shape=shape, elements=elements, bytes=nbytes, precision=precision, flops=flops,
        layers=layers, instances=found.instances, share=flops / total if total else 0.0, headline=found.what,
        module=found.module, layer=found.layer.name if found.layer is not None and present else "",
        materialised=found.materialised, note=found.note or ("" if present else "its shape is dynamic in the IR"),
        formula=value.general if value else "", formula_substituted=value.substituted if value else "",
        formula_elements=value.value if value else 0, match=(elements == value.value) if value and present else None)


def _order(model: IRModel, names: Naming, stages: dict[int, str], kinds: dict[int, str]) -> tuple[str, ...]:
    """DSTT's stages in network order; another model's as its layers first run them, then those that never do."""
    if names.profile == "dstt":
        return names.stages
    seen = tuple(dict.fromkeys(stages[lr.id] for lr in model.layers if kinds[lr.id] != "constant"))
    return seen + tuple(s for s in names.stages if s not in seen)


def profile_ir(req: Request, prepared: Prepared | None = None) -> IRRecord:
    """The record of the IR `req.path` (as `prepare` read it), as docs/openvino.md describes it."""
    prep = prepared or prepare(req)
    clip = prep.clip
    model = reshaped(prep.model, prep.reshape_to, prep.why) if prep.reshape_to is not None else prep.model
    kinds = kinds_of(model)
    names = naming(model, req.stages)
    if names.profile != "dstt" and (req.heads is not None or req.zones is not None):
        raise UsageError("--heads, --zones: DSTT's sizes, but the IR's stages are not DSTT's "
                         f"({names.source})")
    stages = assign(model, names, kinds)
    view = View(model, kinds, stages, names)
    layers = tuple(IRLayerRecord(index=n, id=lr.id, name=lr.name, type=lr.type, opset=lr.opset, kind=kinds[lr.id],
                                 module=lr.module or "", stage=stages[lr.id], outputs=tuple(_tensor(p) for p in lr.outputs),
                                 flops=costs.flops(lr)) for n, lr in enumerate(model.layers))
    by_stage: dict[str, int] = defaultdict(int)
    drawn: dict[str, int] = defaultdict(int)
    uncosted: dict[str, int] = defaultdict(int)
    by_type: dict[str, int] = defaultdict(int)
    for record in layers:
        if record.kind in ("compute", "input", "output"):
            drawn[record.stage] += 1
        if record.flops is not None:
            by_stage[record.stage] += record.flops
            by_type[record.type] += record.flops
        elif record.type in costs.COUNTED:
            uncosted[record.stage] += 1
    total = sum(by_type.values())
    parameter = next((p for p in model.parameters if p.outputs), None)
    dtype = DTYPE_NAMES.get(parameter.outputs[0].precision, parameter.outputs[0].precision) if parameter else ""
    run: RunConfig | None = None
    sizes = DSTTSizes({}, "")
    why = ""
    if names.profile == "dstt":
        sizes = dstt_sizes(view, req)
        run, why = _run_config(clip, dtype, sizes)
    formulas = DSTTFormulas(config_of) if run is not None else None

    def formula_for(stage: str) -> Callable[[bool], FormulaValue | None]:
        return lambda materialised: formulas.stage(run, stage, materialised) if formulas and run else None

    order = _order(model, names, stages, kinds)
    rows = {s: _stage_row(s, view.headline(s), by_stage.get(s, 0), drawn.get(s, 0), total, formula_for(s)) for s in order}
    checks: tuple[CheckRecord, ...] = ()
    unchecked: tuple[str, ...] = ()
    if run is not None:
        checks, unchecked = _checks(view, run, rows, uncosted)
    elif names.profile == "dstt":
        unchecked = (f"every formula: {why}",)
    notes = []
    if dynamic := [lr for lr in _dynamic(model) if kinds[lr.id] in ("compute", "input")]:
        notes.append(f"{len(dynamic)} layers have dynamic output shapes in the IR (first: {dynamic[0].name}): their "
                     "elements, bytes and FLOPs are not counted")
    if not_costed := sum(uncosted.values()):
        notes.append(f"{not_costed} layers of a counted type are not costed: a shape they need is dynamic")
    return IRRecord(
        path=str(req.path), ir_version=model.version, model_name=model.name, clip=clip, dtype=dtype, profile=names.profile,
        title=names.title, stage_source=names.source, sizes=sizes.args, sizes_note=sizes.note, stages=tuple(rows.values()),
        checks=checks, unchecked=unchecked, layers=layers,
        edges=tuple(IREdge(e.source, e.source_port, e.target, e.target_port) for e in model.edges), flops_total=total,
        flops_by_type=dict(sorted(by_type.items(), key=lambda item: -item[1])),
        colours=dict(DSTT_COLOURS) if names.profile == "dstt" else {}, notes=tuple(notes), stage_map=req.stages)
