"""Which stage each layer of an IR belongs to, by its name, and where each stage's headline tensor is.

OpenVINO's PyTorch converter names a node after the module that ran it: `__module.transformer.0.attention/
aten::matmul/MatMul` is module `transformer.0.attention`. Those module paths are given to the same stage maps
as the PyTorch run's: DSTT's (`profiles/dstt/stages.py`) where the IR has DSTT's modules, a `--stages FILE.toml`
map, or each top-level module a stage. A layer whose name carries no module, or whose module no rule names,
belongs to the stage that was running (in topological order); a constant to the stage of its first consumer."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dstt_profile.errors import UsageError
from dstt_profile.ir.reader import FLOATING, IRModel, Layer, Port
from dstt_profile.profiles.base import Headline
from dstt_profile.profiles.dstt import stages as dstt_stages
from dstt_profile.profiles.dstt.profile import stage_of as dstt_stage_of
from dstt_profile.profiles.generic import read_stage_map

CONSTANT_TYPES = frozenset({"Const", "Constant"})
SOFTMAXES = frozenset({"SoftMax", "Softmax", "LogSoftmax"})
FUSED_ATTENTION = frozenset({"ScaledDotProductAttention"})
# Module paths every DSTT generator's IR names (the built-in network, the release, any size of it).
DSTT_MODULES = ("encoder", "hier_enc", "patch2vec", "transformer", "transformer.0.attention", "transformer.0.ffn",
                "vec2patch", "vec2patch.embedding", "decoder")
_LOOKED_THROUGH = 64  # layers walked back from a SoftMax to its matrix product, at most


def kinds_of(model: IRModel) -> dict[int, str]:
    """Layer id -> kind (records/ir.py KINDS): a layer computed from constants alone is a constant too (a
    weight's decompression); integer vectors of at most one dim are shape arithmetic."""
    out: dict[int, str] = {}
    for layer in model.layers:
        sources = [model.producers.get((layer.id, p.id)) for p in layer.inputs]
        if layer.type in CONSTANT_TYPES or (sources and all(s is not None and out[s[0]] == "constant" for s in sources)
                                            and layer.type != "Parameter"):
            out[layer.id] = "constant"
        elif layer.type == "Parameter":
            out[layer.id] = "input"
        elif layer.type == "Result" or not layer.outputs:
            out[layer.id] = "output"
        elif all(p.precision not in FLOATING and len(p.dims) <= 1 for p in layer.outputs):
            out[layer.id] = "shape"
        else:
            out[layer.id] = "compute"
    return out


def within(module: str | None, scope: str) -> bool:
    """Whether a layer of `module` runs inside module `scope` (itself or a submodule)."""
    return module is not None and (module == scope or module.startswith(scope + "."))


def parent(module: str) -> str:
    return module.rpartition(".")[0]


@dataclass(frozen=True)
class Naming:
    """How the layers' stages are named: `stage_of` takes a layer's module path (`by_module`) or its whole name."""

    profile: str
    title: str
    stages: tuple[str, ...]
    stage_of: Callable[[str], str | None]
    by_module: bool
    source: str
    headlines: dict[str, Headline] = field(default_factory=dict)

    def key(self, layer: Layer) -> str | None:
        return layer.module if self.by_module else layer.name


def module_paths(model: IRModel) -> dict[str, int]:
    """Every module the layer names carry, with each of its parents, in the order they first appear."""
    found: dict[str, int] = {}
    for n, layer in enumerate(model.layers):
        module = layer.module
        while module:
            found.setdefault(module, n)
            module = parent(module)
    return dict(sorted(found.items(), key=lambda item: item[1]))


def looks_like_dstt(modules: Iterable[str]) -> bool:
    names = set(modules)
    return all(m in names for m in DSTT_MODULES)


def naming(model: IRModel, stage_file: str | None) -> Naming:
    """The stage names of `model`'s layers: a stage map, else DSTT's where its modules are DSTT's, else its
    top-level modules (UsageError where its names carry no module and no map is given)."""
    modules = module_paths(model)
    if stage_file is not None:
        return _mapped(model, modules, stage_file)
    if not modules:
        raise UsageError(f"{model.path}: its layer names carry no torch module path (__module.X.Y/...) to name stages "
                         "by: give --stages FILE.toml (patterns matched against whole layer names)")
    if looks_like_dstt(modules):
        return Naming("dstt", "DSTT", dstt_stages.STAGES, dstt_stage_of, True,
                      "DSTT's stage map, by the module path in each layer's name (__module.X.Y -> X.Y)",
                      dict(dstt_stages.HEADLINES))
    tops = tuple(dict.fromkeys(m.partition(".")[0] for m in modules))
    return Naming("generic", model.name or "model", tops, lambda m: m.partition(".")[0] or None, True,
                  "stages: the top-level modules of the layers' names (__module.X.Y -> X)")


def _mapped(model: IRModel, modules: dict[str, int], stage_file: str) -> Naming:
    stage_map = read_stage_map(stage_file)
    by_module = bool(modules)
    keys = list(modules) if by_module else [layer.name for layer in model.layers]
    what = "module" if by_module else "layer name"
    if missing := [regex.pattern for regex, _ in stage_map if not any(regex.fullmatch(k) for k in keys)]:
        shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
        more = f" ({len(missing)} patterns match none)" if len(missing) > 1 else ""
        raise UsageError(f"--stages {stage_file}: the pattern {missing[0]!r} matches no {what} of the IR{more}; "
                         f"its {what}s are {shown}")

    @functools.cache
    def stage_of(key: str) -> str | None:
        return next((stage for regex, stage in stage_map if regex.fullmatch(key)), None)

    against = "the module path in each layer's name (__module.X.Y -> X.Y)" if by_module else "whole layer names"
    return Naming("generic", model.name or "model", tuple(dict.fromkeys(s for _, s in stage_map)), stage_of, by_module,
                  f"stages from {stage_file}, matched against {against}")


def assign(model: IRModel, names: Naming, kinds: dict[int, str]) -> dict[int, str]:
    """Layer id -> stage (module no rule names: the running stage; constants: their first consumer's)."""
    explicit: dict[int, str | None] = {}
    for layer in model.layers:
        if kinds[layer.id] != "constant":
            key = names.key(layer)
            explicit[layer.id] = names.stage_of(key) if key is not None else None
    running = next((s for s in explicit.values() if s), None)
    if running is None:
        raise UsageError(f"{model.path}: no layer's name matches a stage ({names.source})")
    out: dict[int, str] = {}
    for layer in model.layers:
        if layer.id in explicit:
            running = explicit[layer.id] or running
            out[layer.id] = running
    for layer in reversed(model.layers):  # a constant's consumers come after it: theirs are known
        if kinds[layer.id] == "constant":
            users = [out[e.target] for e in model.consumers[layer.id] if e.target in out]
            out[layer.id] = users[0] if users else running
    return out


@dataclass(frozen=True)
class Found:
    """A stage's headline as found in the IR: the layer output holding it (None: not in the IR, `note` says why; a
    fused kernel's matrix, which no output holds, as a port of id -1 of the kernel)."""

    layer: Layer | None
    port: Port | None
    module: str
    what: str
    instances: int
    materialised: bool = True
    note: str = ""


class View:
    """An IR with its layers' kinds and stages, answering where tensors are."""

    def __init__(self, model: IRModel, kinds: dict[int, str], stages: dict[int, str], names: Naming) -> None:
        self.model, self.kinds, self.stages, self.names = model, kinds, stages, names
        self.modules = module_paths(model)
        self.members: dict[str, list[Layer]] = {}
        for layer in model.layers:
            module = layer.module
            while module:
                self.members.setdefault(module, []).append(layer)
                module = parent(module)

    def computed(self, layers: Iterable[Layer]) -> list[Layer]:
        return [layer for layer in layers if self.kinds[layer.id] == "compute"]

    def boundary_outputs(self, module: str) -> list[tuple[Layer, Port]]:
        """The tensors the module's layers hand to layers outside it, in topological order: its outputs."""
        out = []
        for layer in self.computed(self.members.get(module, [])):
            for port in layer.outputs:
                targets = [self.model.by_id[e.target] for e in self.model.consumers[layer.id] if e.source_port == port.id]
                if any(not within(t.module, module) for t in targets):
                    out.append((layer, port))
        return out

    def stage_outputs(self, stage: str) -> list[tuple[Layer, Port]]:
        """The tensors a stage's layers hand to another stage's layers, or to a Result."""
        out = []
        for layer in self.computed(lr for lr in self.model.layers if self.stages[lr.id] == stage):
            for port in layer.outputs:
                targets = [self.model.by_id[e.target] for e in self.model.consumers[layer.id] if e.source_port == port.id]
                if any(self.stages[t.id] != stage or self.kinds[t.id] == "output" for t in targets):
                    out.append((layer, port))
        return out

    def _operand_computed(self, layer: Layer, port: Port) -> bool:
        source = self.model.producer(layer, port.id)
        return source is not None and self.kinds[source.id] != "constant"

    def matrix_product(self, softmax: Layer) -> Layer | None:
        """The matrix product of two computed tensors whose result reaches `softmax`'s input through layers keeping
        its element count (a scale, an added mask, a cast); None where there is none: not an attention matrix."""
        if not softmax.inputs or not softmax.outputs or softmax.outputs[0].elements is None:
            return None
        size = softmax.outputs[0].elements
        current = self.model.producer(softmax, softmax.inputs[0].id)
        for _ in range(_LOOKED_THROUGH):
            if current is None or not current.outputs or current.outputs[0].elements != size:
                return None
            if current.type == "MatMul":
                factors = current.inputs[:2]
                return current if len(factors) == 2 and all(self._operand_computed(current, p) for p in factors) else None
            same = next((p for p in current.inputs if p.elements == size), None)
            current = self.model.producer(current, same.id) if same is not None else None
        return None

    def matrices(self, layers: Iterable[Layer]) -> list[Layer]:
        """The SoftMax layers among `layers` that read an attention matrix (their output: the matrix)."""
        return [layer for layer in layers if layer.type in SOFTMAXES and self.matrix_product(layer) is not None]

    def largest(self, layers: Iterable[Layer]) -> tuple[Layer, Port] | None:
        best: tuple[Layer, Port] | None = None
        for layer in self.computed(layers):
            for port in layer.outputs:
                if port.elements is not None and (best is None or port.elements > (best[1].elements or 0)):
                    best = (layer, port)
        return best

    def tensor(self, pattern: str, index: int) -> tuple[Layer, Port] | None:
        """Output `index` of the first module fully matching `pattern` (as the PyTorch run's formula checks read)."""
        regex = re.compile(pattern)
        first = next((m for m in self.modules if regex.fullmatch(m)), None)
        outs = self.boundary_outputs(first) if first is not None else []
        return outs[index] if index < len(outs) else None

    def headline(self, stage: str) -> Found:
        spec = self.names.headlines.get(stage)
        return self._profile_headline(stage, spec) if spec is not None else self._generic_headline(stage)

    def _profile_headline(self, stage: str, spec: Headline) -> Found:
        """The profile's headline: output `spec.output` of the first module matching `spec.module` in the stage;
        an output no edge hands out (an attention module's matrix) is the SoftMax output inside it; where a fused
        kernel took its place, the largest tensor `scope_up` name parts above, as the PyTorch run reports it."""
        regex = re.compile(spec.module)
        instances = [m for m in self.modules if regex.fullmatch(m) and self.names.stage_of(m) == stage]
        if not instances:
            return Found(None, None, "", spec.what, 0, note=f"no layer of a module matching {spec.module!r} is in the IR")
        first = instances[0]
        outs = self.boundary_outputs(first)
        if spec.output < len(outs):
            layer, port = outs[spec.output]
            return Found(layer, port, first, spec.what, len(instances))
        inside = self.members.get(first, [])
        if found := self.matrices(inside):
            softmax = max(found, key=lambda lr: lr.outputs[0].elements or 0)
            return Found(softmax, softmax.outputs[0], first, f"{spec.what} (the {softmax.type} output)", len(instances))
        parts = first.split(".")
        scope = ".".join(parts[: len(parts) - spec.scope_up]) if 0 < spec.scope_up < len(parts) else first
        fused = [lr for lr in self.members.get(scope, []) if lr.type in FUSED_ATTENTION]
        if spec.scope_up and fused and (largest := self.largest(self.members.get(scope, []))) is not None:
            layer, port = largest
            return Found(layer, port, scope, f"largest tensor of the stage ({layer.type}); attention matrix not built",
                         len(instances), materialised=False,
                         note=f"the attention matrix is not in the IR: {fused[0].type} computes it without building it")
        return Found(None, None, first, spec.what, len(instances),
                     note=f"output {spec.output} of {first} is no layer's output in the IR (fused away or folded)")

    def _generic_headline(self, stage: str) -> Found:
        """The stage's attention matrix where its layers make one (the largest of the first module making any),
        else the output of its first outermost module, else the first tensor leaving the stage."""
        mine = [lr for lr in self.model.layers if self.stages[lr.id] == stage]
        if found := self.matrices(mine):
            modules = list(dict.fromkeys(lr.module or lr.name for lr in found))
            first = [lr for lr in found if (lr.module or lr.name) == modules[0]]
            softmax = max(first, key=lambda lr: lr.outputs[0].elements or 0)
            return Found(softmax, softmax.outputs[0], softmax.module or "",
                         f"attention matrix (q @ k^T, the {softmax.type} output)", len(modules))
        if fused := [lr for lr in mine if lr.type in FUSED_ATTENTION and len(lr.inputs) >= 2 and lr.outputs]:
            kernel = fused[0]
            query, key = kernel.inputs[0].dims, kernel.inputs[1].dims
            if len(query) >= 2 and len(key) >= 2 and kernel.outputs[0].static and kernel.inputs[1].static:
                shape = (*kernel.outputs[0].dims[:-1], key[-2])
                modules = list(dict.fromkeys(lr.module or lr.name for lr in fused))
                matrix = Port(-1, shape, kernel.outputs[0].precision)
                return Found(kernel, matrix, kernel.module or "", f"attention matrix {kernel.type} computes without "
                             "building it (batch*heads*Lq*Lk, from the query's and the key's shapes)", len(modules),
                             materialised=False, note="no layer output holds it: the kernel never builds it")
        if self.names.by_module:
            of = self.names.stage_of
            roots = [m for m in self.modules if of(m) == stage and of(parent(m)) != stage]
            for module in roots:
                if outs := self.boundary_outputs(module):
                    layer, port = outs[0]
                    return Found(layer, port, module, f"output of {module}", len(roots))
        if outs := self.stage_outputs(stage):
            layer, port = outs[0]
            return Found(layer, port, layer.module or "", f"output of layer {layer.name}", 1)
        return Found(None, None, "", "stage output", 0, note="no layer of this stage hands a tensor on")
