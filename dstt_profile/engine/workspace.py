"""Convolution workspaces: memory a convolution kernel holds inside the op, learned once per machine.

No tensor ever holds it, so no trace sees it, yet the allocator does. On CPU it is oneDNN's: depending
on the layer's shape it copies the input and the weight into blocked layouts, or computes into a
blocked output and copies that back (the decoder's 64-channel full-resolution convolution holds
26,689,536 B per frame at 240x432). Which of these it does is the library's choice, so it is measured,
never guessed, and never at the target size:

* a convolution is identified by its `ConvSignature` (everything but the batch: one sample's input
  shape, the weight, stride, padding, dilation, groups, dtype, device, memory layout), read from the
  op's own arguments, so any model's convolutions are covered;
* it is run for real, alone, at batch 1 and 2 under a `PeakMeter`; its workspace is the meter's peak
  during the call minus the output it returns. Workspace is affine in the batch; the fit is checked
  exactly at batch 3 (and, where batch 1 is special, refitted on 2 and 3 and checked at 4);
* the result is cached on disk (`cache_dir()`), keyed by everything that changes it: torch version,
  oneDNN version and CPU instruction set (or GPU, CUDA and cuDNN versions) and the signature. A second
  run costs nothing. Each calibration is saved as soon as it is made (an interrupted run keeps what it
  measured), merged with what is on disk and written atomically.

The cache is input like any other: every entry read back is checked (`entry_of`: integers only, a
workspace that is non-negative at every batch and at most `workspace_bound` bytes, a signature that
parses back) and one that fails is dropped and calibrated again, with one warning; a file that is not
a cache at all is ignored, and a cache that cannot be written costs only the next run's calibration.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import torch

from dstt_profile.engine import slowconv
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.hostmemory import available_bytes
from dstt_profile.engine.meters import PeakMeter, meter_for
from dstt_profile.errors import UsageError
from dstt_profile.fileio import write_atomic
from dstt_profile.units import fmt_bytes

CONVOLUTION = "aten.convolution"
CACHE_SCHEMA = "dstt-profile-workspaces/1"
CACHE_ENV = "DSTT_PROFILE_CACHE"
DIRECT_LIMIT = 1 << 30  # bytes of input a convolution is probed with directly, at most
PROG = "dstt-profile"  # the name warnings are printed under, as the command line's own
BOUND_FACTOR = 64  # a workspace holds at most this many copies of the tensors a call handles ...
BOUND_SLACK = 1 << 20  # ... plus this many bytes per sample (fixed-size scratch, alignment)
CHECKED = (0, 3, 4, 5)  # the batch a fit was verified at (0: not affine)


class WorkspaceError(UsageError):
    """A convolution's workspace could not be calibrated on this machine."""


@dataclass(frozen=True)
class Workspace:
    """Workspace bytes of one signature as a function of the batch n: `at_one` for n = 1, the probed
    batches in `exact`, else `constant + per_sample * n`; `checked` is the batch the fit was verified
    at (exact), two above the first batch it holds from. Where the library's choice changes with the
    batch in no such way (`checked` = 0: not affine), only the batches in `exact` are known, each
    probed directly."""

    at_one: int
    constant: int
    per_sample: int
    checked: int
    exact: tuple[tuple[int, int], ...] = ()  # (batch, bytes) probed directly

    @property
    def affine(self) -> bool:
        return self.checked > 0

    @property
    def first_affine(self) -> int:
        """The batch from which the fit holds (1, 2 or 3; the ones below are `at_one` and `exact`)."""
        return self.checked - 2

    def at(self, batch: int) -> int | None:
        """Bytes at `batch`; None where the workspace is not affine and `batch` was not probed."""
        if batch == 1:
            return self.at_one
        probed = dict(self.exact)
        if batch in probed:
            return probed[batch]
        if self.affine and batch >= self.first_affine:
            return self.constant + self.per_sample * batch
        return None


def machine_key(device: str) -> str:
    """Everything about this machine's software and hardware that changes a workspace."""
    parts = [f"torch {torch.__version__}"]
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        parts += [props.name, f"cuda {torch.version.cuda}", f"cudnn {torch.backends.cudnn.version()}"]
    else:
        found = re.search(r"MKL-DNN v([\w.]+)", torch.__config__.show())
        parts += [
            f"onednn {found.group(1) if found else 'none'}",
            f"isa {torch.backends.cpu.get_cpu_capability()}",
            platform.machine(),
            f"threads {torch.get_num_threads()}",
        ]
    return "; ".join(parts)


def cache_dir() -> Path:
    """$DSTT_PROFILE_CACHE, else $XDG_CACHE_HOME/dstt-profile, else ~/.cache/dstt-profile (a leading
    `~` in either variable is the home directory, as a shell would expand it)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.path.expanduser(base)) / "dstt-profile"


def _probe_input(sig: ConvSignature, batch: int) -> torch.Tensor:
    dtype = getattr(torch, sig.dtype)
    shape = (batch, *sig.sample)
    if sig.layout.startswith("strided:"):
        order = [int(d) for d in sig.layout.partition(":")[2].split(",")]
        dense = torch.zeros([shape[d] for d in order], device=sig.device, dtype=dtype)
        return dense.permute([order.index(d) for d in range(len(order))])
    x = torch.zeros(shape, device=sig.device, dtype=dtype)
    if sig.layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _aten_kernel(sig: ConvSignature, batch: int) -> bool:
    """Whether ATen runs `sig` itself at `batch` (its kernels unfold the input)."""
    try:
        return slowconv.backend(sig, batch) in slowconv.SLOW_2D | slowconv.SLOW_3D
    except RuntimeError:
        return True


def _blocks_of_16(channels: int) -> int:
    return -(-channels // 16) * 16


def probe_need(sig: ConvSignature, batch: int) -> int:
    """A generous bound on the memory one probe at `batch` takes: the input, the weight and the output,
    each also as a copy with its channels padded to blocks of 16 (oneDNN's layouts), and the unfolded
    input where ATen's own kernels run it."""
    itemsize = int(getattr(torch, sig.dtype).itemsize)
    spatial_in = math.prod(sig.sample[1:])
    spatial_out = math.prod(slowconv.out_spatial(sig))
    channels_in = sig.sample[0]
    channels_out = sig.weight[1] * sig.groups if sig.transposed else sig.weight[0]
    x = batch * spatial_in * (channels_in + _blocks_of_16(channels_in))
    out = batch * spatial_out * (2 * channels_out + _blocks_of_16(channels_out))
    unfolds = sig.device == "cpu" and _aten_kernel(sig, batch)
    columns = batch * channels_in * math.prod(sig.weight[2:]) * spatial_out if unfolds else 0
    return (x + out + columns + 2 * math.prod(sig.weight)) * itemsize


def _room_for(sig: ConvSignature, batch: int) -> None:
    """WorkspaceError (one line) where a probe at `batch` may not fit in this machine's free memory."""
    need = probe_need(sig, batch)
    room = available_bytes() if sig.device == "cpu" else None
    if room is not None and need > room[0]:
        raise WorkspaceError(
            f"calibrating a convolution's workspace (weight {sig.weight}, input {sig.sample}, {sig.dtype}) "
            f"runs it for real at batch {batch}, which may need {fmt_bytes(need)}, and {room[1]} leaves "
            f"{fmt_bytes(room[0])}: use a smaller frame size, t or batch"
        )


def probe(sig: ConvSignature, batch: int, meter: PeakMeter) -> int:
    """Workspace bytes of one real call at `batch`: the meter's peak minus the output it returns.

    No warm-up call is needed: oneDNN's first call at a shape allocates what later calls do. A probe
    that may not fit in free memory is refused before it runs, in one line; one the allocator refuses
    midway likewise."""
    _room_for(sig, batch)
    try:
        return _probe(sig, batch, meter)
    except RuntimeError as exc:
        if "memory" not in str(exc).lower():
            raise
        raise WorkspaceError(
            f"calibrating a convolution's workspace (weight {sig.weight}, input {sig.sample}, {sig.dtype}) at "
            f"batch {batch} ran out of memory: use a smaller frame size, t or batch"
        ) from None


def _probe(sig: ConvSignature, batch: int, meter: PeakMeter) -> int:
    dtype = getattr(torch, sig.dtype)
    weight = torch.zeros(sig.weight, device=sig.device, dtype=dtype)
    channels = sig.weight[1] * sig.groups if sig.transposed else sig.weight[0]
    bias = torch.zeros(channels, device=sig.device, dtype=dtype) if sig.bias else None
    x = _probe_input(sig, batch)
    conv = partial(
        torch.ops.aten.convolution.default,
        x,
        weight,
        bias,
        list(sig.stride),
        list(sig.padding),
        list(sig.dilation),
        sig.transposed,
        list(sig.output_padding),
        sig.groups,
    )
    with torch.no_grad():
        peak, out = meter.peak(conv)
    return int(peak) - int(out.untyped_storage().nbytes())


FIRST_AFFINE = 3  # the largest batch from which a fit is tried (oneDNN picks other kernels at batch 1 or 2)


def calibrate(sig: ConvSignature, meter: PeakMeter) -> Workspace:
    """Probe `sig` at small batches and fit the workspace, checked exactly at a larger batch: affine
    from batch k = 1, 2 or 3 on (fitted on k and k + 1, checked at k + 2), the batches below k kept as
    probed. Where no such fit holds, the probes are kept and every other batch is probed when it is
    needed (`probe_batch`)."""
    probed = {n: probe(sig, n, meter) for n in (1, 2, 3)}
    for first in range(1, FIRST_AFFINE + 1):
        check = first + 2
        if check not in probed:
            probed[check] = probe(sig, check, meter)
        per = probed[first + 1] - probed[first]
        if probed[check] == probed[first] + 2 * per:
            constant = probed[first] - first * per
            below = tuple((n, probed[n]) for n in range(2, first))
            return Workspace(at_one=probed[1], constant=constant, per_sample=per, checked=check, exact=below)
    exact = tuple((n, v) for n, v in sorted(probed.items()) if n > 1)
    return Workspace(at_one=probed[1], constant=0, per_sample=0, checked=0, exact=exact)


def probe_batch(sig: ConvSignature, found: Workspace, batch: int, meter: PeakMeter) -> Workspace:
    """`found` with the workspace at `batch` probed directly (for a signature that is not affine)."""
    nbytes = batch * _sample_bytes(sig)
    if nbytes > DIRECT_LIMIT:
        raise WorkspaceError(
            f"the workspace of a convolution (weight {sig.weight}, input {sig.sample}) changes with the batch "
            f"in no affine way, and probing it at batch {batch} needs a {nbytes / 2**30:.1f} GiB input "
            f"(more than {DIRECT_LIMIT / 2**30:.0f} GiB)"
        )
    exact = dict(found.exact)
    exact[batch] = probe(sig, batch, meter)
    return Workspace(found.at_one, found.constant, found.per_sample, found.checked, tuple(sorted(exact.items())))


def _sample_bytes(sig: ConvSignature) -> int:
    dtype: torch.dtype = getattr(torch, sig.dtype)
    return math.prod(sig.sample) * dtype.itemsize


def _warn(message: str) -> None:
    """One warning line on standard error (the run goes on)."""
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def _is_int(value: object) -> bool:
    """A JSON integer: an int, not a bool (Python's `True` is an int too)."""
    return type(value) is int


def _parse_int(text: str) -> int | None:
    """A JSON integer literal; one of more digits than any byte figure has is no figure (None)."""
    return int(text) if len(text) <= 40 else None


def _no_constant(text: str) -> None:
    """`Infinity`, `-Infinity` and `NaN`, which Python's json reads but JSON has not: no value."""
    return None


def _loads(text: str) -> Any:
    """JSON as the cache stores it; ValueError or RecursionError where it is not JSON."""
    return json.loads(text, parse_int=_parse_int, parse_constant=_no_constant)


def _int_list(value: object, least: int) -> tuple[int, ...] | None:
    """`value` as a tuple of JSON integers, each at least `least`; None where it is not one."""
    if not isinstance(value, list) or not all(_is_int(v) and v >= least for v in value):
        return None
    return tuple(value)


_TUPLE_FIELDS = {"sample": 1, "weight": 1, "stride": 1, "padding": 0, "dilation": 1, "output_padding": 0}
_FLAG_FIELDS = ("bias", "transposed")
_TEXT_FIELDS = ("dtype", "device", "layout")


def signature_from_key(key: str) -> ConvSignature | None:
    """The signature a cache key is the JSON of (`ConvSignature.key`), or None where the key is not
    one: not that JSON exactly, a field of the wrong type, or shapes no convolution has."""
    try:
        raw = _loads(key)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict) or set(raw) != {f.name for f in fields(ConvSignature)}:
        return None
    tuples = {name: _int_list(raw[name], least) for name, least in _TUPLE_FIELDS.items()}
    if any(v is None for v in tuples.values()) or not _is_int(raw["groups"]) or raw["groups"] < 1:
        return None
    if not all(type(raw[n]) is bool for n in _FLAG_FIELDS):
        return None
    if not all(isinstance(raw[n], str) for n in _TEXT_FIELDS):
        return None
    sig = ConvSignature(**{**raw, **tuples})
    if sig.key() != key or _dtype(sig) is None or not _layout_ok(sig) or output_spatial(sig) is None:
        return None
    return sig


def _dtype(sig: ConvSignature) -> torch.dtype | None:
    """The signature's torch dtype, None where its name is none."""
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
    rows = zip(spatial, kernel, sig.stride, sig.padding, sig.dilation, sig.output_padding)
    if sig.transposed:
        out = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, k, s, p, d, o in rows)
        channels_fit = sig.sample[0] == sig.weight[0] and sig.weight[0] % sig.groups == 0
    else:
        out = tuple((i + 2 * p - d * (k - 1) - 1) // s + 1 for i, k, s, p, d, _ in rows)
        channels_fit = sig.sample[0] == sig.weight[1] * sig.groups and sig.weight[0] % sig.groups == 0
    return out if channels_fit and min(out) >= 1 else None


@dataclass(frozen=True)
class Bound:
    """The most workspace bytes a convolution can hold at batch n: `base + per_sample * n`; with
    `per_sample` None, `base` at any batch (a device's whole memory)."""

    base: int
    per_sample: int | None

    def at(self, batch: int) -> int:
        return self.base + (self.per_sample or 0) * batch

    @property
    def slope(self) -> int:
        """The most bytes one more sample can add."""
        return self.base if self.per_sample is None else self.per_sample


def workspace_bound(sig: ConvSignature) -> Bound:
    """What a CPU convolution's workspace cannot exceed: `BOUND_FACTOR` copies of every tensor the
    call handles (one sample's input, output and unfolded input, whose columns an im2col kernel
    holds; the weight and bias, once) plus `BOUND_SLACK` bytes per sample. oneDNN's workspace is
    blocked copies of these, padded to its channel blocks (a 3-channel input copied as 8 or 16), or
    per-thread pieces of them, so a real one stays well below; a figure above is no measurement."""
    out = output_spatial(sig)
    dtype = _dtype(sig)
    assert out is not None and dtype is not None, "a signature parsed back from a key"
    size = dtype.itemsize
    spatial, kernel = sig.sample[1:], sig.weight[2:]
    out_channels = sig.weight[1] * sig.groups if sig.transposed else sig.weight[0]
    unfolded = sig.weight[1] * sig.groups * math.prod(kernel) * math.prod(spatial if sig.transposed else out)
    per_sample = (math.prod(sig.sample) + out_channels * math.prod(out) + unfolded) * size
    weight = (math.prod(sig.weight) + (out_channels if sig.bias else 0)) * size
    return Bound(base=BOUND_FACTOR * weight, per_sample=BOUND_FACTOR * per_sample + BOUND_SLACK)


def device_bound(device: str) -> Callable[[ConvSignature], Bound]:
    """The bound on a workspace of this machine's `device`: `workspace_bound` on a CPU; on a GPU,
    whose libraries may pick kernels with large workspaces, the device's memory."""
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
    if not all(_is_int(raw.get(f)) for f in ("at_one", "constant", "per_sample", "checked")) or exact is None:
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


def entry_of(
    key: str, raw: object, device: str | None = None, bound: Callable[[ConvSignature], Bound] | None = None
) -> Workspace | None:
    """A cache entry as a `Workspace`, or None where it is malformed: a key that is no signature (of
    `device`, where given), fields that are not what `calibrate` writes, or (where `bound` is given) a
    figure negative or above the bound."""
    sig = signature_from_key(key)
    ws = _workspace_of(raw)
    if sig is None or ws is None or (device is not None and sig.device != device):
        return None
    return ws if bound is None or _within(ws, bound(sig)) else None


def valid_entries(
    records: Mapping[str, object], device: str | None = None, bound: Callable[[ConvSignature], Bound] | None = None
) -> tuple[dict[str, Workspace], int]:
    """The well-formed entries of one machine's records (see `entry_of`) and how many were not."""
    found = {key: ws for key, raw in records.items() if (ws := entry_of(key, raw, device, bound)) is not None}
    return found, len(records) - len(found)


class WorkspaceCache:
    """Workspaces by signature for this machine, read from and written back to `path`."""

    def __init__(
        self, device: str, path: Path | None = None, meter: PeakMeter | None = None, derive: bool | None = None
    ) -> None:
        self.device = device
        self.path = path if path is not None else cache_dir() / "workspaces.json"
        self.meter = meter
        # ATen's own kernels are derived from the shapes (slowconv.py), unless the cache is given a meter
        # of its own: then every signature is measured with it
        self.derive = meter is None if derive is None else derive
        self.machine = machine_key(device)
        self.bound = device_bound(device)
        self.entries: dict[str, Workspace] = {}
        self.calibrated = 0  # signatures probed by this cache object (0: everything came from disk)
        self.dropped = 0  # malformed entries found in the file for this machine (dropped, recalibrated)
        self.notify: Callable[[str], None] | None = None  # told before each calibration
        self._dirty = False
        self._warned_unwritable = False
        self._load()

    def _read(self) -> dict[str, dict[str, Any]]:
        """The file's records by machine; none where it is unreadable or not a cache of this schema,
        and a machine's record left out where it is not a JSON object."""
        try:
            if not self.path.is_file():  # a directory, a FIFO (reading it would wait forever), nothing
                return {}
            data = _loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA:
            return {}
        machines = data.get("machines")
        if not isinstance(machines, dict):
            return {}
        return {machine: records for machine, records in machines.items() if isinstance(records, dict)}

    def _load(self) -> None:
        entries, self.dropped = valid_entries(self._read().get(self.machine, {}), self.device, self.bound)
        self.entries.update(entries)
        if self.dropped:
            one = self.dropped == 1
            _warn(
                f"dropped {self.dropped} malformed workspace cache entr{'y' if one else 'ies'} in {str(self.path)!r}; "
                f"recalibrating {'it' if one else 'them'}"
            )
            self._dirty = True  # written back without them

    def _merged(self) -> dict[str, dict[str, Any]]:
        """What is on disk now, each machine's malformed entries left out, with this object's entries
        over this machine's."""
        machines: dict[str, dict[str, Any]] = {}
        for machine, records in self._read().items():
            mine = machine == self.machine
            found, _ = valid_entries(records, self.device if mine else None, self.bound if mine else None)
            machines[machine] = {key: asdict(ws) for key, ws in found.items()}
        machines.setdefault(self.machine, {}).update({key: asdict(ws) for key, ws in self.entries.items()})
        return machines

    def _save(self) -> bool:
        """Merge this object's entries into the file, atomically; False (and a warning, once) where it
        cannot be written, which costs only the next run a calibration."""
        text = json.dumps({"schema": CACHE_SCHEMA, "machines": self._merged()}, indent=1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, text)
        except OSError as exc:
            self._unwritable(exc.strerror or str(exc))
            return False
        except UsageError as exc:
            self._unwritable(str(exc).removeprefix(f"cannot write {str(self.path)!r}: "))
            return False
        return True

    def _unwritable(self, reason: str) -> None:
        if not self._warned_unwritable:
            self._warned_unwritable = True
            _warn(f"cannot write the workspace cache {str(self.path)!r}: {reason}; the next run calibrates again")

    def workspace(self, sig: ConvSignature) -> Workspace:
        """The workspace of `sig`: from the cache, else calibrated now and saved at once (a run
        stopped later keeps it)."""
        key = sig.key()
        found = self.entries.get(key)
        if found is None:
            notify = self.notify or _ANNOUNCER[0]
            work = _calibration_flops(sig)
            if notify is not None:
                notify(
                    f"calibrating a convolution's workspace on this machine, once (weight {sig.weight}, "
                    f"input {sig.sample}, {sig.dtype}): real calls at batch 1 to 3, about "
                    f"{max(work / _RATE[0], 0.1):.1f} s; cached in {self.path}"
                )
            started = time.perf_counter()
            found = calibrate(sig, self.meter or meter_for(self.device))
            elapsed = time.perf_counter() - started
            if elapsed > 0.05:  # long enough to tell this machine's speed by
                _RATE[0] = work / elapsed
            self.entries[key] = found
            self.calibrated += 1
            self._dirty = True
            self.save()
        return found

    def bytes_at(self, sig: ConvSignature, batch: int) -> int:
        """Workspace bytes of `sig` at `batch`: derived from the shapes where ATen runs the convolution
        itself (slowconv.py), else calibrated (or that batch probed) where unknown."""
        derived = slowconv.workspace_bytes(sig, batch) if self.derive else None
        if derived is not None:
            return derived
        found = self.workspace(sig)
        value = found.at(batch)
        if value is None:
            found = probe_batch(sig, found, batch, self.meter or meter_for(self.device))
            self.entries[sig.key()] = found
            self._dirty = True
            self.save()
            value = found.at(batch)
        assert value is not None
        return value

    def save(self) -> None:
        """Write what this object calibrated to the cache file (merged with what is there)."""
        if self._dirty:
            self._dirty = not self._save()

    def describe(self) -> str:
        return f"convolution workspaces calibrated on this machine ({self.machine})"


# What calibrations are announced to where a cache has no `notify` of its own (the command line's
# stderr), and this process's convolution speed, FLOPs per second, for the announced estimate (a guess
# until the first calibration has been timed).
_ANNOUNCER: list[Callable[[str], None] | None] = [None]
_RATE = [2e10]


def set_announcer(notify: Callable[[str], None] | None) -> None:
    """Tell `notify` before each calibration any cache of this process makes (None: tell nobody)."""
    _ANNOUNCER[0] = notify


def _calibration_flops(sig: ConvSignature) -> float:
    """The arithmetic of calibrating `sig`: its probes at batch 1, 2 and 3, 2 FLOPs per multiply-add."""
    per_sample = 2 * math.prod(sig.weight) * math.prod(slowconv.out_spatial(sig))
    if sig.transposed:
        per_sample = 2 * math.prod(sig.weight) * math.prod(sig.sample[1:])
    return float(per_sample * (1 + 2 + 3))


_DEFAULT: dict[tuple[str, int], WorkspaceCache] = {}


def default_cache(device: str) -> WorkspaceCache:
    """This process's workspace cache for `device` at the current thread count (read from disk once,
    calibrating what is missing)."""
    key = (device, torch.get_num_threads())
    if key not in _DEFAULT:
        _DEFAULT[key] = WorkspaceCache(device)
    return _DEFAULT[key]


def set_default_cache(device: str, cache: WorkspaceCache | None) -> None:
    """Use `cache` for `device` at the current thread count from now on (None: for every thread count,
    the one in `cache_dir()` again)."""
    if cache is None:
        for key in [k for k in _DEFAULT if k[0] == device]:
            del _DEFAULT[key]
    else:
        _DEFAULT[(device, torch.get_num_threads())] = cache
