"""The workspace cache file read as untrusted input: an entry is used only where it is what a calibration
writes, within `workspace_bound` (docs/memory.md); what fails is dropped, and calibrated again."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

from dstt_profile.engine.calibrate import Workspace
from dstt_profile.engine.convsig import ConvSignature

PROG = "dstt-profile"  # the name warnings are printed under, as the command line's own
BOUND_FACTOR = 64  # a workspace holds at most this many copies of the tensors a call handles ...
BOUND_SLACK = 1 << 20  # ... plus this many bytes per sample (fixed-size scratch, alignment)
CHECKED = (0, 3, 4, 5)  # the batch a fit was verified at (0: not affine)


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def loads(text: str) -> Any:
    """JSON as the cache stores it; ValueError or RecursionError where it is not JSON. An integer of more
    digits than any byte figure has, and `Infinity` and `NaN` (which JSON has not), are read as None."""
    return json.loads(text, parse_int=lambda text: int(text) if len(text) <= 40 else None,
                      parse_constant=lambda _text: None)


def _int_list(value: object, least: int) -> tuple[int, ...] | None:
    """`value` as a tuple of JSON integers, each at least `least`; None where it is not one."""
    if not isinstance(value, list) or not all(type(v) is int and v >= least for v in value):
        return None
    return tuple(value)


_TUPLE_FIELDS = {"sample": 1, "weight": 1, "stride": 1, "padding": 0, "dilation": 1, "output_padding": 0}
_FLAG_FIELDS = ("bias", "transposed")
_TEXT_FIELDS = ("dtype", "device", "layout")


def signature_from_key(key: str) -> ConvSignature | None:
    """The signature a cache key is the JSON of (`ConvSignature.key`), or None where the key is not
    one: not that JSON exactly, a field of the wrong type, or shapes no convolution has."""
    try:
        raw = loads(key)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict) or set(raw) != {f.name for f in fields(ConvSignature)}:
        return None
    tuples = {name: _int_list(raw[name], least) for name, least in _TUPLE_FIELDS.items()}
    if any(v is None for v in tuples.values()) or type(raw["groups"]) is not int or raw["groups"] < 1:
        return None
    texts = all(isinstance(raw[n], str) for n in _TEXT_FIELDS)
    if not texts or not all(type(raw[n]) is bool for n in _FLAG_FIELDS):
        return None
    sig = ConvSignature(**{**raw, **tuples})
    if sig.key() != key or _dtype(sig) is None or not _layout_ok(sig) or output_spatial(sig) is None:
        return None
    return sig


def _dtype(sig: ConvSignature) -> torch.dtype | None:
    found = getattr(torch, sig.dtype, None) if sig.dtype.isidentifier() else None
    return found if isinstance(found, torch.dtype) else None


def _layout_ok(sig: ConvSignature) -> bool:
    """Whether the layout is one `_layout` writes for an input of the signature's rank."""
    if sig.layout in ("contiguous", "channels_last"):
        return sig.layout == "contiguous" or len(sig.sample) == 3
    kind, _, order = sig.layout.partition(":")
    return kind == "strided" and sorted(order.split(",")) == sorted(map(str, range(len(sig.sample) + 1)))


def output_spatial(sig: ConvSignature) -> tuple[int, ...] | None:
    """The spatial sizes a call of `sig` returns, or None where the shapes fit no convolution (ranks
    that differ, channels that do not divide into the groups, an output of no size)."""
    spatial, kernel = sig.sample[1:], sig.weight[2:]
    dims = len(spatial)
    ranks = {len(kernel), len(sig.stride), len(sig.padding), len(sig.dilation), len(sig.output_padding)}
    if dims < 1 or ranks != {dims}:
        return None
    out = sig.output_spatial()
    if sig.transposed:
        channels_fit = sig.sample[0] == sig.weight[0] and sig.weight[0] % sig.groups == 0
    else:
        channels_fit = sig.sample[0] == sig.weight[1] * sig.groups and sig.weight[0] % sig.groups == 0
    return out if channels_fit and min(out) >= 1 else None


@dataclass(frozen=True)
class Bound:
    """The most workspace bytes at batch n: `base + per_sample * n` (`per_sample` None: `base` at any n)."""

    base: int
    per_sample: int | None

    def at(self, batch: int) -> int:
        return self.base + (self.per_sample or 0) * batch

    @property
    def slope(self) -> int:
        """The most bytes one more sample can add."""
        return self.base if self.per_sample is None else self.per_sample


def workspace_bound(sig: ConvSignature) -> Bound:
    """What a CPU convolution's workspace cannot exceed: `BOUND_FACTOR` copies of one sample's input, output
    and unfolded input and of the weight and bias, plus `BOUND_SLACK` per sample; oneDNN stays well below."""
    out = output_spatial(sig)
    assert out is not None and _dtype(sig) is not None, "a signature parsed back from a key"
    size, out_channels = sig.itemsize(), sig.out_channels()
    unfolded = sig.weight[1] * sig.groups * math.prod(sig.weight[2:])
    unfolded *= math.prod(sig.sample[1:] if sig.transposed else out)
    per_sample = (math.prod(sig.sample) + out_channels * math.prod(out) + unfolded) * size
    weight = (math.prod(sig.weight) + (out_channels if sig.bias else 0)) * size
    return Bound(base=BOUND_FACTOR * weight, per_sample=BOUND_FACTOR * per_sample + BOUND_SLACK)


BoundOf = Callable[[ConvSignature], Bound]


def device_bound(device: str) -> BoundOf:
    """`workspace_bound` on a CPU; on a GPU, whose libraries may pick large workspaces, its memory."""
    if device != "cuda":
        return workspace_bound
    total = int(torch.cuda.get_device_properties(0).total_memory)
    return lambda sig: Bound(base=total, per_sample=None)


def _exact_pairs(value: object) -> tuple[tuple[int, int], ...] | None:
    """`exact` as stored: [batch >= 2, bytes >= 0] pairs, no batch twice; None where it is not that."""
    if not isinstance(value, list):
        return None
    pairs = [_int_list(pair, 0) for pair in value]
    if any(p is None or len(p) != 2 or p[0] < 2 for p in pairs):
        return None
    found = tuple((p[0], p[1]) for p in pairs if p is not None)
    return found if len({b for b, _ in found}) == len(found) else None


def _workspace_of(raw: object) -> Workspace | None:
    """The stored fields of an entry as a `Workspace`: JSON integers, `checked` one of `CHECKED`, and
    the fields `calibrate` leaves unused at their defaults; None where they are not."""
    if not isinstance(raw, dict):
        return None
    exact = _exact_pairs(raw.get("exact", []))
    numbers = all(type(raw.get(f)) is int for f in ("at_one", "constant", "per_sample", "checked"))
    if not numbers or exact is None:
        return None
    ws = Workspace(raw["at_one"], raw["constant"], raw["per_sample"], raw["checked"], exact)
    if ws.checked not in CHECKED or ws.at_one < 0 or ws.per_sample < 0:
        return None
    if ws.affine:
        fit_holds = ws.checked > 3 or ws.at_one == ws.constant + ws.per_sample  # fitted from batch 1 on
        below = {b for b, _ in ws.exact} == set(range(2, ws.first_affine))  # kept as probed: batch 2 where k = 3
        return ws if fit_holds and below else None
    probed = {b for b, _ in ws.exact} >= {2, 3, 4}
    return ws if probed and ws.constant == 0 and ws.per_sample == 0 else None


def _within(ws: Workspace, bound: Bound) -> bool:
    """Whether every byte figure of `ws` lies between 0 and `bound` at its batch."""
    figures = [(1, ws.at_one), *ws.exact]
    if ws.affine:
        figures += [(n, ws.constant + ws.per_sample * n) for n in range(ws.checked - 2, ws.checked + 1)]
        if ws.per_sample > bound.slope:
            return False
    return all(0 <= value <= bound.at(batch) for batch, value in figures)


def entry_of(key: str, raw: object, device: str | None = None,
             bound: BoundOf | None = None) -> Workspace | None:
    """A cache entry as a `Workspace`; None where the key is no signature of `device`, the fields are not
    what `calibrate` writes, or a figure is outside `bound`."""
    sig = signature_from_key(key)
    ws = _workspace_of(raw)
    if sig is None or ws is None or (device is not None and sig.device != device):
        return None
    return ws if bound is None or _within(ws, bound(sig)) else None


def valid_entries(records: Mapping[str, object], device: str | None = None,
                  bound: BoundOf | None = None) -> tuple[dict[str, Workspace], int]:
    """The well-formed entries of one machine's records (see `entry_of`) and how many were not."""
    found = {key: ws for key, raw in records.items() if (ws := entry_of(key, raw, device, bound)) is not None}
    return found, len(records) - len(found)

