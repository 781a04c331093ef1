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
  run costs nothing.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from dstt_profile.engine.meters import PeakMeter, meter_for
from dstt_profile.fileio import write_atomic

CONVOLUTION = "aten.convolution"
CACHE_SCHEMA = "dstt-profile-workspaces/1"
CACHE_ENV = "DSTT_PROFILE_CACHE"
DIRECT_LIMIT = 1 << 30  # bytes of input a convolution is probed with directly, at most


class WorkspaceError(RuntimeError):
    """A convolution's workspace could not be calibrated on this machine."""


@dataclass(frozen=True)
class ConvSignature:
    """One convolution, all but its batch: what its workspace can depend on."""

    sample: tuple[int, ...]  # input shape without the batch dimension
    weight: tuple[int, ...]
    bias: bool
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]
    groups: int
    dtype: str
    device: str
    layout: str  # contiguous | channels_last | strided:<dims from outermost to innermost>, e.g. strided:0,2,1,3,4

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _layout(x: torch.Tensor) -> str:
    """How the input lies in memory. A permuted input (a transpose's view) is named by its dimensions in
    memory order, so the probe is given one alike: the library copies such an input inside the op."""
    if x.is_contiguous():
        return "contiguous"
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    strides = x.stride()
    order = sorted(range(x.dim()), key=lambda d: (-strides[d], d))
    return "strided:" + ",".join(map(str, order))


def signature_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[ConvSignature, int]:
    """The signature and the batch of an `aten.convolution` call, from its arguments."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "transposed", "output_padding", "groups")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    x, w = bound["input"], bound["weight"]
    sig = ConvSignature(
        sample=_ints(x.shape[1:]),
        weight=_ints(w.shape),
        bias=bound.get("bias") is not None,
        stride=_ints(bound["stride"]),
        padding=_ints(bound["padding"]),
        dilation=_ints(bound["dilation"]),
        transposed=bool(bound["transposed"]),
        output_padding=_ints(bound["output_padding"]),
        groups=int(bound["groups"]),
        dtype=str(x.dtype).removeprefix("torch."),
        device=x.device.type,
        layout=_layout(x),
    )
    return sig, int(x.shape[0])


@dataclass(frozen=True)
class Workspace:
    """Workspace bytes of one signature as a function of the batch n: `at_one` for n = 1, else
    `constant + per_sample * n`; `checked` is the batch the fit was verified at (exact). Where the
    library's choice changes with the batch (`checked` = 0: not affine), only the batches in `exact`
    are known, each probed directly."""

    at_one: int
    constant: int
    per_sample: int
    checked: int
    exact: tuple[tuple[int, int], ...] = ()  # (batch, bytes) probed directly

    @property
    def affine(self) -> bool:
        return self.checked > 0

    def at(self, batch: int) -> int | None:
        """Bytes at `batch`; None where the workspace is not affine and `batch` was not probed."""
        if batch == 1:
            return self.at_one
        if self.affine:
            return self.constant + self.per_sample * batch
        return dict(self.exact).get(batch)


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
        ]
    return "; ".join(parts)


def cache_dir() -> Path:
    """$DSTT_PROFILE_CACHE, else $XDG_CACHE_HOME/dstt-profile, else ~/.cache/dstt-profile."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dstt-profile"


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


def probe(sig: ConvSignature, batch: int, meter: PeakMeter) -> int:
    """Workspace bytes of one real call at `batch`: the meter's peak minus the output it returns.

    No warm-up call is needed: oneDNN's first call at a shape allocates what later calls do."""
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
    return int(peak - out.untyped_storage().nbytes())


def calibrate(sig: ConvSignature, meter: PeakMeter) -> Workspace:
    """Probe `sig` at small batches and fit the workspace, checked exactly at a larger batch.

    Where no affine fit holds (oneDNN may pick other kernels for odd and even batches of a small
    input), the probes are kept and every other batch is probed when it is needed (`probe_batch`)."""
    w1, w2, w3 = (probe(sig, n, meter) for n in (1, 2, 3))
    per = w2 - w1
    if w3 == w1 + 2 * per:  # affine from batch 1 on
        return Workspace(at_one=w1, constant=w1 - per, per_sample=per, checked=3)
    per = w3 - w2
    w4 = probe(sig, 4, meter)
    if w4 == w3 + per:  # batch 1 is special; affine from 2 on
        return Workspace(at_one=w1, constant=w2 - 2 * per, per_sample=per, checked=4)
    return Workspace(at_one=w1, constant=0, per_sample=0, checked=0, exact=((2, w2), (3, w3), (4, w4)))


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


class WorkspaceCache:
    """Workspaces by signature for this machine, read from and written back to `path`."""

    def __init__(self, device: str, path: Path | None = None, meter: PeakMeter | None = None) -> None:
        self.device = device
        self.path = path if path is not None else cache_dir() / "workspaces.json"
        self.meter = meter
        self.machine = machine_key(device)
        self.entries: dict[str, Workspace] = {}
        self.calibrated = 0  # signatures probed by this cache object (0: everything came from disk)
        self.notify: Callable[[str], None] | None = None  # told before each calibration
        self._dirty = False
        self._load()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("schema") == CACHE_SCHEMA else {}

    def _load(self) -> None:
        machines = self._read().get("machines", {})
        for key, raw in (machines.get(self.machine) or {}).items():
            try:
                fields = {f: int(raw[f]) for f in ("at_one", "constant", "per_sample", "checked")}
                exact = tuple((int(b), int(v)) for b, v in raw.get("exact", ()))
                self.entries[key] = Workspace(**fields, exact=exact)
            except (KeyError, TypeError, ValueError):
                continue

    def _save(self) -> None:
        data = self._read()
        found = data.get("machines")
        machines: dict[str, Any] = found if isinstance(found, dict) else {}
        old = machines.get(self.machine)
        mine: dict[str, Any] = old if isinstance(old, dict) else {}
        mine.update({k: asdict(v) for k, v in self.entries.items()})
        machines[self.machine] = mine
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps({"schema": CACHE_SCHEMA, "machines": machines}, indent=1))
        except OSError:
            pass  # an unwritable cache only costs the next run a new calibration

    def workspace(self, sig: ConvSignature) -> Workspace:
        key = sig.key()
        found = self.entries.get(key)
        if found is None:
            if self.notify is not None:
                self.notify(
                    f"calibrating a convolution's workspace on this machine, once (weight {sig.weight}, "
                    f"input {sig.sample}, {sig.dtype}); cached in {self.path}"
                )
            found = calibrate(sig, self.meter or meter_for(self.device))
            self.entries[key] = found
            self.calibrated += 1
            self._dirty = True
        return found

    def bytes_at(self, sig: ConvSignature, batch: int) -> int:
        """Workspace bytes of `sig` at `batch`, calibrating (or probing that batch) where unknown."""
        found = self.workspace(sig)
        value = found.at(batch)
        if value is None:
            found = probe_batch(sig, found, batch, self.meter or meter_for(self.device))
            self.entries[sig.key()] = found
            self._dirty = True
            value = found.at(batch)
        assert value is not None
        return value

    def save(self) -> None:
        """Write what this object calibrated to the cache file (merged with what is there)."""
        if self._dirty:
            self._save()
            self._dirty = False

    def describe(self) -> str:
        return f"convolution workspaces calibrated on this machine ({self.machine})"


_DEFAULT: dict[str, WorkspaceCache] = {}


def default_cache(device: str) -> WorkspaceCache:
    """This process's workspace cache for `device` (read from disk once, calibrating what is missing)."""
    if device not in _DEFAULT:
        _DEFAULT[device] = WorkspaceCache(device)
    return _DEFAULT[device]


def set_default_cache(device: str, cache: WorkspaceCache | None) -> None:
    """Use `cache` for `device` from now on (None: the one in `cache_dir()` again)."""
    if cache is None:
        _DEFAULT.pop(device, None)
    else:
        _DEFAULT[device] = cache
