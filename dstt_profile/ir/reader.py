"""An OpenVINO IR's XML (v10, v11) read as data: layers with their ports (dims, precisions), and edges.

The file is parsed with expat alone and held to what an IR is: a DOCTYPE, an entity declaration or an
external reference is refused before anything of it is read (no entity is ever expanded, nothing is
fetched), and a file that is not an IR's XML is one `UsageError` naming what is wrong. The weights file
(`.bin`) is never read: a Const layer's output port holds its shape."""

from __future__ import annotations

import heapq
import math
import re
import stat
import unicodedata
import xml.parsers.expat as expat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dstt_profile.errors import UsageError

IR_VERSIONS = (10, 11)
MAX_XML_BYTES = 1 << 30  # an IR's XML holds no weights: 1 GiB is far beyond any real one
MAX_DEPTH = 64  # element nesting (sub-graph bodies nest a few levels)
DYNAMIC = -1  # a dim the IR leaves open (-1, ?, or an interval such as 1..10)

# Bits per element by precision, as ports (FP32, I64) and Const data (f32, i64) write them.
BITS: dict[str, int] = {
    "f64": 64, "f32": 32, "f16": 16, "bf16": 16, "f8e4m3": 8, "f8e5m2": 8, "f8e8m0": 8, "f4e2m1": 4, "nf4": 4,
    "i64": 64, "i32": 32, "i16": 16, "i8": 8, "i4": 4, "u64": 64, "u32": 32, "u16": 16, "u8": 8, "u6": 6,
    "u4": 4, "u3": 3, "u2": 2, "u1": 1, "boolean": 8,
}
_ALIASES = {"fp64": "f64", "fp32": "f32", "fp16": "f16", "bool": "boolean", "bin": "u1"}
FLOATING = frozenset({"f64", "f32", "f16", "bf16", "f8e4m3", "f8e5m2", "f8e8m0", "f4e2m1", "nf4"})
DTYPE_NAMES = {"f64": "float64", "f32": "float32", "f16": "float16", "bf16": "bfloat16"}
_INTERVAL = re.compile(r"-?[0-9]+\.\.-?[0-9]*|\.\.-?[0-9]+|\?")
MODULE_PREFIX = "__module."


def precision_name(key: str) -> str:
    """A precision as IR ports write it: f32 -> FP32, boolean -> BOOL, i64 -> I64."""
    return {"f64": "FP64", "f32": "FP32", "f16": "FP16", "boolean": "BOOL"}.get(key, key.upper())


def precision_key(text: str) -> str:
    """A precision as one lower-case name (`FP32` and `f32` -> `f32`); unknown names kept, lower-cased."""
    low = text.strip().lower()
    return _ALIASES.get(low, low)


@dataclass(frozen=True)
class Port:
    """One port: id, dims (`DYNAMIC` where open), its precision (`precision_key`; "" where the IR gives none)."""

    id: int
    dims: tuple[int, ...]
    precision: str
    names: str = ""

    @property
    def static(self) -> bool:
        return DYNAMIC not in self.dims

    @property
    def elements(self) -> int | None:
        return math.prod(self.dims) if self.static else None

    @property
    def bytes(self) -> int | None:
        n, bits = self.elements, BITS.get(self.precision)
        return None if n is None or bits is None else (n * bits + 7) // 8


@dataclass(frozen=True)
class Layer:
    """One layer as the IR holds it; `data` its attributes (strides, transpose_a, element_type, ...)."""

    id: int
    name: str
    type: str
    opset: str
    data: dict[str, str]
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]

    def input(self, port: int) -> Port | None:
        return next((p for p in self.inputs if p.id == port), None)

    def output(self, port: int) -> Port | None:
        return next((p for p in self.outputs if p.id == port), None)

    @property
    def module(self) -> str | None:
        """The torch module path OpenVINO's converter names the node after (`__module.X.Y/aten::op/Type` ->
        `X.Y`); None where the name carries none (a node of the root's own code, or of another converter)."""
        if not self.name.startswith(MODULE_PREFIX):
            return None
        return self.name[len(MODULE_PREFIX):].partition("/")[0] or None


@dataclass(frozen=True)
class Edge:
    source: int
    source_port: int
    target: int
    target_port: int


@dataclass(frozen=True)
class IRModel:
    """An IR: its layers in topological order (ties by id), its edges, and for each layer the edges leaving
    it and the producer of each of its input ports."""

    path: str
    version: int
    name: str
    layers: tuple[Layer, ...]
    edges: tuple[Edge, ...]
    by_id: dict[int, Layer] = field(repr=False)
    position: dict[int, int] = field(repr=False)  # layer id -> index in `layers`
    consumers: dict[int, tuple[Edge, ...]] = field(repr=False)  # layer id -> edges leaving it
    producers: dict[tuple[int, int], tuple[int, int]] = field(repr=False)  # (layer, input port) -> (layer, port)

    def producer(self, layer: Layer, port: int) -> Layer | None:
        found = self.producers.get((layer.id, port))
        return self.by_id[found[0]] if found is not None else None

    @property
    def parameters(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.type == "Parameter"]


class _Refused(Exception):
    """The file holds a construct this reader never processes (a DOCTYPE, an entity)."""


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    children: list[_Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def all(self, tag: str) -> list[_Element]:
        return [c for c in self.children if c.tag == tag]

    def one(self, tag: str) -> _Element | None:
        found = self.all(tag)
        return found[0] if found else None


def _refuse(what: str) -> Callable[..., None]:
    def handler(*_args: object) -> None:
        raise _Refused(what)
    return handler


def _refuse_reference(*_args: object) -> int:
    raise _Refused("an external entity reference")


def parse_xml(data: bytes) -> _Element:
    """`data` as an element tree, by expat with every DTD construct refused (`_Refused`, `expat.ExpatError`)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = _refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = _refuse("an unparsed entity declaration")
    parser.NotationDeclHandler = _refuse("a notation declaration")
    parser.ExternalEntityRefHandler = _refuse_reference
    parser.SkippedEntityHandler = _refuse("an entity reference")
    root = _Element("", {})
    stack = [root]

    def start(tag: str, attrs: dict[str, str]) -> None:
        if len(stack) > MAX_DEPTH:
            raise _Refused(f"elements nested more than {MAX_DEPTH} deep")
        element = _Element(tag, attrs)
        stack[-1].children.append(element)
        stack.append(element)

    def end(_tag: str) -> None:
        stack.pop()

    def text(chars: str) -> None:
        if stack[-1].tag == "dim":
            stack[-1].text.append(chars)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.Parse(data, True)
    if len(root.children) != 1:
        raise expat.ExpatError("no root element")
    return root.children[0]


class _Malformed(Exception):
    pass


def _text(value: str) -> str:
    """A name as data: control characters (a newline written as &#10;, C1 codes a terminal acts on) as U+FFFD, so
    no name can break a line of the output or reach the terminal as a command."""
    return "".join("\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in value)


def _int(text: str | None, what: str, low: int = 0) -> int:
    if text is None:
        raise _Malformed(f"{what} is missing")
    value = text.strip()
    if not re.fullmatch(r"-?[0-9]{1,19}", value, re.ASCII) or int(value) < low:
        raise _Malformed(f"{what} {value[:40]!r} is not a whole number" + (f" >= {low}" if low else ""))
    return int(value)


def _dim(text: str, where: str) -> int:
    value = text.strip()
    if value == "-1" or _INTERVAL.fullmatch(value):
        return DYNAMIC
    return _int(value, f"{where}: dim")


def _ports(element: _Element | None, where: str, fallback: str) -> tuple[Port, ...]:
    if element is None:
        return ()
    ports = []
    for p in element.all("port"):
        pid = _int(p.attrs.get("id"), f"{where}: port id")
        dims = tuple(_dim("".join(d.text), f"{where} port {pid}") for d in p.all("dim"))
        precision = precision_key(p.attrs.get("precision", fallback))
        ports.append(Port(pid, dims, precision, _text(p.attrs.get("names", ""))))
    return tuple(ports)


def _layer(element: _Element) -> Layer:
    lid = _int(element.attrs.get("id"), "a layer's id")
    where = f"layer {lid}"
    for key in ("name", "type"):
        if key not in element.attrs:
            raise _Malformed(f"{where} has no {key}")
    data = element.one("data")
    attrs = dict(data.attrs) if data is not None else {}
    fallback = attrs.get("element_type", "")
    inputs, outputs = _ports(element.one("input"), where, fallback), _ports(element.one("output"), where, fallback)
    ids = [p.id for p in (*inputs, *outputs)]
    if len(set(ids)) != len(ids):
        raise _Malformed(f"{where} has two ports with one id")
    return Layer(lid, _text(element.attrs["name"]), _text(element.attrs["type"]), _text(element.attrs.get("version", "")),
                 attrs, inputs, outputs)


def _edge(element: _Element, layers: dict[int, Layer], n: int) -> Edge:
    keys = ("from-layer", "from-port", "to-layer", "to-port")
    source, sport, target, tport = (_int(element.attrs.get(k), f"edge {n}: {k}") for k in keys)
    for lid, port, side in ((source, sport, "outputs"), (target, tport, "inputs")):
        layer = layers.get(lid)
        if layer is None:
            raise _Malformed(f"edge {n}: layer {lid} is not in the IR")
        if not any(p.id == port for p in getattr(layer, side)):
            raise _Malformed(f"edge {n}: layer {lid} has no {side[:-1]} port {port}")
    return Edge(source, sport, target, tport)


def _topological(layers: dict[int, Layer], edges: list[Edge]) -> list[int]:
    """Layer ids, every producer before its consumers, ties by id (Kahn's algorithm); _Malformed on a cycle."""
    waiting = dict.fromkeys(layers, 0)
    after: dict[int, list[int]] = {lid: [] for lid in layers}
    for e in edges:
        waiting[e.target] += 1
        after[e.source].append(e.target)
    ready = [lid for lid, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        lid = heapq.heappop(ready)
        order.append(lid)
        for nxt in after[lid]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, nxt)
    if len(order) != len(layers):
        raise _Malformed("its edges form a cycle")
    return order


def model_of(root: _Element, path: str) -> IRModel:
    """The IR a parsed XML holds (`_Malformed` naming the first thing that is not as an IR's)."""
    if root.tag != "net":
        raise _Malformed(f"the root element is <{root.tag[:40]}>, not <net>")
    version = _int(root.attrs.get("version"), "the IR version")
    if version not in IR_VERSIONS:
        raise _Malformed(f"IR version {version}: only versions {' and '.join(map(str, IR_VERSIONS))} are read")
    blocks = root.all("layers")
    if len(blocks) != 1:
        raise _Malformed(f"<net> holds {len(blocks)} <layers> elements, not one")
    layers: dict[int, Layer] = {}
    for element in blocks[0].all("layer"):
        layer = _layer(element)
        if layer.id in layers:
            raise _Malformed(f"two layers have id {layer.id}")
        layers[layer.id] = layer
    if not layers:
        raise _Malformed("it holds no layers")
    edges = [_edge(e, layers, n) for edges in root.all("edges") for n, e in enumerate(edges.all("edge"))]
    producers: dict[tuple[int, int], tuple[int, int]] = {}
    for e in edges:
        if (e.target, e.target_port) in producers:
            raise _Malformed(f"layer {e.target} input port {e.target_port} is fed by two edges")
        producers[(e.target, e.target_port)] = (e.source, e.source_port)
    order = _topological(layers, edges)
    consumers: dict[int, list[Edge]] = {lid: [] for lid in layers}
    for e in edges:
        consumers[e.source].append(e)
    return IRModel(path=path, version=version, name=_text(root.attrs.get("name", "")), layers=tuple(layers[i] for i in order),
                   edges=tuple(edges), by_id=layers, position={lid: n for n, lid in enumerate(order)},
                   consumers={k: tuple(v) for k, v in consumers.items()}, producers=producers)


def read_ir(path: Path) -> IRModel:
    """The IR at `path` (its XML), or UsageError with one line saying why not."""
    shown = str(path)
    try:
        info = path.stat()
        size = info.st_size
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"ir: {shown!r} is a directory, not an IR's .xml file")
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"ir: {shown!r} is not a regular file")
        if size > MAX_XML_BYTES:
            raise UsageError(f"{shown}: not an OpenVINO IR ({size:,} bytes of XML, more than {MAX_XML_BYTES:,})")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"ir: no such file {shown!r}") from None
    except OSError as exc:
        raise UsageError(f"ir: cannot read {shown!r}: {exc.strerror or exc}") from None
    try:
        root = parse_xml(data)
    except _Refused as exc:
        raise UsageError(f"{shown}: refused: the XML holds {exc} (an IR holds none; nothing of it is expanded or "
                         "fetched)") from None
    except expat.ExpatError as exc:
        problem = expat.ErrorString(exc.code) if getattr(exc, "code", None) else str(exc)
        at = f" at line {exc.lineno}, column {exc.offset}" if getattr(exc, "lineno", None) else ""
        raise UsageError(f"{shown}: not an OpenVINO IR (malformed XML: {problem}{at})") from None
    try:
        return model_of(root, shown)
    except _Malformed as exc:
        raise UsageError(f"{shown}: not an OpenVINO IR ({exc})") from None
