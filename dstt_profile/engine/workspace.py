"""Convolution workspaces, what a kernel holds inside the op and no tensor shows: derived (slowconv.py) or
calibrated (calibrate.py), cached by machine and signature, read back as untrusted input (cachefile.py)."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from dstt_profile.engine import slowconv
from dstt_profile.engine.cachefile import device_bound, loads, valid_entries, warn
from dstt_profile.engine.calibrate import Workspace, calibrate, probe_batch
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.meters import PeakMeter, meter_for
from dstt_profile.errors import UsageError
from dstt_profile.fileio import write_atomic

CONVOLUTION = "aten.convolution"
CACHE_SCHEMA = "dstt-profile-workspaces/1"
CACHE_ENV = "DSTT_PROFILE_CACHE"


def machine_key(device: str) -> str:
    """Everything about this machine's software and hardware that changes a workspace."""
    parts = [f"torch {torch.__version__}"]
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        parts += [props.name, f"cuda {torch.version.cuda}", f"cudnn {torch.backends.cudnn.version()}"]
    else:
        found = re.search(r"MKL-DNN v([\w.]+)", torch.__config__.show())
        onednn = found.group(1) if found else "none"
        isa = torch.backends.cpu.get_cpu_capability()
        parts += [f"onednn {onednn}", f"isa {isa}", platform.machine(), f"threads {torch.get_num_threads()}"]
    return "; ".join(parts)


def cache_dir() -> Path:
    """$DSTT_PROFILE_CACHE, else $XDG_CACHE_HOME/dstt-profile, else ~/.cache/dstt-profile (`~` expanded)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.path.expanduser(base)) / "dstt-profile"


class WorkspaceCache:
    """Workspaces by signature for this machine, read from and written back to `path`."""

    def __init__(self, device: str, path: Path | None = None, meter: PeakMeter | None = None,
                 derive: bool | None = None) -> None:
        self.device = device
        self.path = path if path is not None else cache_dir() / "workspaces.json"
        self.meter = meter
        # ATen's own kernels are derived from the shapes (slowconv.py), unless the cache is given a meter
        # of its own: then every signature is measured with it
        self.derive = meter is None if derive is None else derive
        self.machine = machine_key(device)
        self.bound = device_bound(device)
        self.calibrated = 0  # signatures probed by this cache object (0: everything came from disk)
        self.notify: Callable[[str], None] | None = None  # told before each calibration
        self._warned_unwritable = False
        # malformed entries found in the file for this machine are dropped, and written back without them
        self.entries, self.dropped = valid_entries(self._read().get(self.machine, {}), device, self.bound)
        self._dirty = self.dropped > 0
        if self.dropped:
            one = self.dropped == 1
            warn(f"dropped {self.dropped} malformed workspace cache entr{'y' if one else 'ies'} in "
                 f"{str(self.path)!r}; recalibrating {'it' if one else 'them'}")

    def _read(self) -> dict[str, dict[str, Any]]:
        """The file's records by machine, those that are JSON objects; none where it is no cache."""
        try:
            if not self.path.is_file():  # a directory, a FIFO (reading it would wait forever), nothing
                return {}
            data = loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        machines = data.get("machines") if isinstance(data, dict) and data.get("schema") == CACHE_SCHEMA else None
        if not isinstance(machines, dict):
            return {}
        return {machine: records for machine, records in machines.items() if isinstance(records, dict)}

    def _merged(self) -> dict[str, dict[str, Any]]:
        """What is on disk now, less malformed entries, with this object's entries over this machine's."""
        machines: dict[str, dict[str, Any]] = {}
        for machine, records in self._read().items():
            mine = machine == self.machine
            found, _ = valid_entries(records, self.device if mine else None, self.bound if mine else None)
            machines[machine] = {key: asdict(ws) for key, ws in found.items()}
        machines.setdefault(self.machine, {}).update({key: asdict(ws) for key, ws in self.entries.items()})
        return machines

    def _save(self) -> bool:
        """Merge this object's entries into the file, atomically; False (and a warning, once) if it cannot."""
        text = json.dumps({"schema": CACHE_SCHEMA, "machines": self._merged()}, indent=1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, text)
            return True
        except OSError as exc:
            reason = exc.strerror or str(exc)
        except UsageError as exc:
            reason = str(exc).removeprefix(f"cannot write {str(self.path)!r}: ")
        if not self._warned_unwritable:
            self._warned_unwritable = True
            warn(f"cannot write the workspace cache {str(self.path)!r}: {reason}; the next run calibrates again")
        return False

    def _keep(self, key: str, found: Workspace) -> Workspace:
        """`found` kept under `key` and written to the file at once (a run stopped later keeps it)."""
        self.entries[key] = found
        self._dirty = True
        self.save()
        return found

    def workspace(self, sig: ConvSignature) -> Workspace:
        """The workspace of `sig`: from the cache, else calibrated now and saved at once."""
        key = sig.key()
        found = self.entries.get(key)
        if found is None:
            notify = self.notify or _ANNOUNCER[0]
            # the probes' arithmetic, at batch 1, 2 and 3, 2 FLOPs per multiply-add
            spatial = sig.sample[1:] if sig.transposed else sig.output_spatial()
            work = float(2 * math.prod(sig.weight) * math.prod(spatial) * (1 + 2 + 3))
            if notify is not None:
                notify(f"calibrating a convolution's workspace on this machine, once (weight {sig.weight}, "
                       f"input {sig.sample}, {sig.dtype}): real calls at batch 1 to 3, about "
                       f"{max(work / _RATE[0], 0.1):.1f} s; cached in {self.path}")
            started = time.perf_counter()
            found = calibrate(sig, self.meter or meter_for(self.device))
            elapsed = time.perf_counter() - started
            if elapsed > 0.05:  # long enough to tell this machine's speed by
                _RATE[0] = work / elapsed
            self.calibrated += 1
            self._keep(key, found)
        return found

    def bytes_at(self, sig: ConvSignature, batch: int) -> int:
        """Derived where ATen runs the convolution itself, else cached, calibrated or that batch probed."""
        derived = slowconv.workspace_bytes(sig, batch) if self.derive else None
        if derived is not None:
            return derived
        found = self.workspace(sig)
        value = found.at(batch)
        if value is None:
            found = probe_batch(sig, found, batch, self.meter or meter_for(self.device))
            value = self._keep(sig.key(), found).at(batch)
        assert value is not None
        return value

    def save(self) -> None:
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


_DEFAULT: dict[tuple[str, int], WorkspaceCache] = {}


def default_cache(device: str) -> WorkspaceCache:
    """This process's workspace cache for `device` at the current thread count."""
    key = (device, torch.get_num_threads())
    if key not in _DEFAULT:
        _DEFAULT[key] = WorkspaceCache(device)
    return _DEFAULT[key]


def set_default_cache(device: str, cache: WorkspaceCache | None) -> None:
    """Use `cache` for `device` at the current thread count (None: the file's again, at every count)."""
    if cache is None:
        for key in [k for k in _DEFAULT if k[0] == device]:
            del _DEFAULT[key]
    else:
        _DEFAULT[(device, torch.get_num_threads())] = cache
