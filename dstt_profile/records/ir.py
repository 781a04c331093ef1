"""What `dstt-profile ir MODEL.xml` found in an OpenVINO IR: its layers, edges, stages and formula checks, plain
frozen data for the renderers (docs/openvino.md). An IR holds shapes and precisions, never memory figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dstt_profile.records.figures import CheckRecord

SCHEMA = "dstt-profile-ir/1"
RUNTIME = "openvino-ir"

# What a layer is: the model's input, a constant (weights, shape constants), shape arithmetic (integer
# vectors computing reshape targets), the model's output, or a layer computing on the data.
KINDS = ("input", "constant", "shape", "output", "compute")
INPUT, CONSTANT, SHAPE, OUTPUT, COMPUTE = KINDS  # a layer's kind (never a stage's name)


@dataclass(frozen=True)
class IRTensor:
    """One output port of a layer: dims (-1 where the IR leaves one dynamic), its precision's name, and its
    elements and bytes (None where a dim is dynamic, or bytes where the precision has no size)."""

    port: int
    shape: tuple[int, ...]
    precision: str
    elements: int | None
    bytes: int | None


@dataclass(frozen=True)
class IRLayerRecord:
    """One layer in topological order (`index`): `id` and `name` as the IR holds them; `module` the torch module
    path its name carries (`__module.X.Y/...` -> `X.Y`), "" where it names none; `flops` 2 per multiply-add,
    None where the type is not counted (only Convolution, GroupConvolution, ConvolutionBackpropData,
    GroupConvolutionBackpropData, MatMul and ScaledDotProductAttention are)."""

    index: int
    id: int
    name: str
    type: str
    opset: str
    kind: str
    module: str
    stage: str
    outputs: tuple[IRTensor, ...]
    flops: int | None


@dataclass(frozen=True)
class IREdge:
    """A tensor from one layer's output port to another layer's input port (layer ids, port ids)."""

    source: int
    source_port: int
    target: int
    target_port: int


@dataclass(frozen=True)
class IRStageRecord:
    """A stage as the IR shows it: its headline tensor (one instance) where a layer output holds it (`found`;
    `note` says why not), FLOPs over every instance, and its formula where the profile has one."""

    name: str
    found: bool
    shape: tuple[int, ...]
    elements: int
    bytes: int
    precision: str
    flops: int
    layers: int
    instances: int
    share: float
    headline: str
    module: str
    layer: str
    materialised: bool
    note: str
    formula: str
    formula_substituted: str
    formula_elements: int
    match: bool | None


@dataclass(frozen=True)
class IRClip:
    """The clip the IR's shapes are for: b, t, H, W (None where the IR's input is not a (b, t, c, H, W) clip),
    the input layer's shape, and how the sizes were obtained, a sentence."""

    batch: int | None
    frames: int | None
    height: int | None
    width: int | None
    input_name: str
    input_shape: tuple[int, ...]
    source: str


@dataclass(frozen=True)
class IRRecord:
    """Everything `ir` found: the IR file, the clip, the profile that named the stages, every layer and edge,
    the stage table, the formula checks (`unchecked`: those the IR could not give a figure for, each with why)."""

    path: str
    ir_version: int
    model_name: str
    clip: IRClip
    dtype: str
    profile: str
    title: str
    stage_source: str
    sizes: Mapping[str, int]
    sizes_note: str
    stages: tuple[IRStageRecord, ...]
    checks: tuple[CheckRecord, ...]
    unchecked: tuple[str, ...]
    layers: tuple[IRLayerRecord, ...]
    edges: tuple[IREdge, ...]
    flops_total: int
    flops_by_type: Mapping[str, int]
    colours: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    stage_map: str | None = None

    @property
    def checks_failed(self) -> int:
        return sum(1 for c in self.checks if not c.passed)

    def kind_count(self, kind: str) -> int:
        return sum(1 for layer in self.layers if layer.kind == kind)

    @property
    def constant_bytes(self) -> int:
        """Bytes the IR's Const layers hold (weights, shape constants) at their stored precision."""
        return sum(t.bytes or 0 for layer in self.layers if layer.type in ("Const", "Constant") for t in layer.outputs)
