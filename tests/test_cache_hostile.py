"""The workspace cache as hostile input: a file of the wrong shape, tampered figures, a cache that
cannot be written, an interrupted calibration. None of them may crash a run or change its figures.

The figures compared are always those of a clean run on this machine (they depend on the CPU).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch
from traces import conv_signature

from dstt_profile.cli.guard import Stopped
from dstt_profile.cli.main import main
from dstt_profile.engine import workspace
from dstt_profile.engine.cachefile import entry_of, signature_from_key, workspace_bound
from dstt_profile.engine.calibrate import Workspace
from dstt_profile.engine.convsig import ConvSignature
from dstt_profile.engine.meters import CpuProfilerMeter
from dstt_profile.engine.workspace import CACHE_ENV, CACHE_SCHEMA, WorkspaceCache, cache_dir, machine_key

R = TypeVar("R")
MACHINE = machine_key("cpu")
RUN = ["--frames", "1", "--res", "48x48", "--format", "json", "--quiet"]
RESULT = "dstt_t1_48x48_float32.json"
PATCH2VEC = [512, 128, 7, 7]  # the convolution the peak of RUN is in, on any CPU


# --- helpers -------------------------------------------------------------------------------------


class _Meter:
    """A meter that reports the call's output plus 1000 + 300 * batch bytes of workspace."""

    method = "synthetic"

    def __init__(self) -> None:
        self.calls = 0

    def peak(self, call: Callable[[], R]) -> tuple[int, R]:
        self.calls += 1
        out = call()
        assert isinstance(out, torch.Tensor)
        return out.numel() * out.element_size() + 1000 + 300 * out.shape[0], out


def _sig(channels: int = 2) -> ConvSignature:
    return conv_signature((channels, 8, 8), (4, channels, 3, 3))


GOOD = {"at_one": 1300, "constant": 1000, "per_sample": 300, "checked": 3, "exact": []}  # what _Meter gives


def _file(machines: Any) -> str:
    return json.dumps({"schema": CACHE_SCHEMA, "machines": machines})


def _warning_dropped(path: Path, count: int) -> str:
    one = count == 1
    return (
        f"dstt-profile: warning: dropped {count} malformed workspace cache entr{'y' if one else 'ies'} in "
        f"{str(path)!r}; recalibrating {'it' if one else 'them'}\n"
    )


def _warning_unwritable(path: Path, reason: str) -> str:
    return f"dstt-profile: warning: cannot write the workspace cache {str(path)!r}: {reason}; the next run calibrates again\n"


@contextlib.contextmanager
def _default_cache_in(directory: Path, cache: WorkspaceCache | None = None) -> Iterator[None]:
    """This process's CPU workspace cache read from `directory` (or `cache`) within the block; the
    session's own (tests/conftest.py) afterwards, as it was."""
    before = workspace.default_cache("cpu")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(directory))
        workspace.set_default_cache("cpu", cache)
        try:
            yield
        finally:
            workspace.set_default_cache("cpu", before)


def _figures(out: Path) -> dict[str, Any]:
    """What the cache's figures enter: the run's peak (batch 1) and its scaling (t = 1..16)."""
    result = json.loads((out / RESULT).read_text(encoding="utf-8"))
    return {"peak": result["runs"][0]["peak"], "scaling": result["scaling"]}


def _run(directory: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The main job on the built-in DSTT at t=1, 48x48, with its cache in `directory`: exit code, stderr."""
    capsys.readouterr()
    with _default_cache_in(directory):
        code = main([*RUN, "--out", str(out)])
    return code, capsys.readouterr().err


@dataclass(frozen=True)
class Clean:
    """A clean run: its cache file and its figures."""

    cache: dict[str, Any]
    figures: dict[str, Any]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, _session_workspace_cache: Path) -> Clean:
    directory = tmp_path_factory.mktemp("clean-cache")
    if _session_workspace_cache.is_file():  # what the session calibrated already, not calibrated again
        shutil.copy(_session_workspace_cache, directory / "workspaces.json")
    out = tmp_path_factory.mktemp("clean-out")
    with _default_cache_in(directory):
        assert main([*RUN, "--out", str(out)]) == 0
    cache = json.loads((directory / "workspaces.json").read_text(encoding="utf-8"))
    return Clean(cache=cache, figures=_figures(out))


def _entries(cache: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = cache["machines"][MACHINE]
    return entries


def _key_of(cache: dict[str, Any], weight: list[int]) -> str:
    """The key of the entry whose convolution has `weight`'s shape (the first, sorted)."""
    return sorted(k for k in _entries(cache) if json.loads(k)["weight"] == weight)[0]


def _fitted_from_one(cache: dict[str, Any]) -> str:
    """An entry fitted from batch 1 on (checked 3) whose batch-1 workspace is not zero."""
    found = sorted(k for k, v in _entries(cache).items() if v["checked"] == 3 and v["at_one"] != 0)
    if not found:
        pytest.skip("no convolution of this run has a workspace affine from batch 1 on this CPU")
    return found[0]


# --- 1: a cache that cannot be written -----------------------------------------------------------


def test_a_cache_path_that_is_a_directory_warns_once_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean: Clean
) -> None:
    (tmp_path / "cache" / "workspaces.json").mkdir(parents=True)
    code, err = _run(tmp_path / "cache", tmp_path / "out", capsys)
    assert code == 0 and _figures(tmp_path / "out") == clean.figures
    assert err == _warning_unwritable(tmp_path / "cache" / "workspaces.json", "Is a directory")


def test_a_cache_directory_that_is_a_file_warns_once_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean: Clean
) -> None:
    (tmp_path / "cache").write_text("not a directory")
    code, err = _run(tmp_path / "cache", tmp_path / "out", capsys)
    assert code == 0 and _figures(tmp_path / "out") == clean.figures
    assert err == _warning_unwritable(tmp_path / "cache" / "workspaces.json", "File exists")


def test_a_full_disk_warns_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)  # write_atomic's rename: the last step of every write
    cache = WorkspaceCache("cpu", tmp_path / "ws.json", _Meter())
    assert cache.bytes_at(_sig(2), 1) == 1300 and cache.bytes_at(_sig(3), 1) == 1300  # two failed saves
    cache.save()
    assert capsys.readouterr().err == _warning_unwritable(tmp_path / "ws.json", "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory")
def test_a_read_only_cache_directory_warns_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path.joinpath("ro").mkdir(mode=0o500)
    cache = WorkspaceCache("cpu", tmp_path / "ro" / "ws.json", _Meter())
    assert cache.bytes_at(_sig(2), 1) == 1300 and cache.bytes_at(_sig(3), 1) == 1300
    assert capsys.readouterr().err == _warning_unwritable(tmp_path / "ro" / "ws.json", "Permission denied")


# --- 2: a cache of the wrong shape ---------------------------------------------------------------

_GOOD_KEY = _sig(2).key()
_DEEP = "[" * 100_000 + "]" * 100_000

# name -> (file text, whether the good entry beside the damage is kept)
SHAPES: dict[str, tuple[str, bool]] = {
    "machines a list": (json.dumps({"schema": CACHE_SCHEMA, "machines": [1, 2]}), False),
    "machines a string": (json.dumps({"schema": CACHE_SCHEMA, "machines": "x"}), False),
    "machine a list": (_file({MACHINE: [1, 2]}), False),
    "machine null": (_file({MACHINE: None}), False),
    "top level a list": ("[1, 2]", False),
    "top level null": ("null", False),
    "not JSON": ("{not json", False),
    "not UTF-8": ("\udcff", False),
    "deep nesting": (_DEEP, False),
    "deep nesting in an entry": (_file({MACHINE: {_GOOD_KEY: GOOD, "x": "@"}}).replace('"@"', _DEEP), False),
    "entry a list": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): [1300, 1000, 300, 3]}}), True),
    "entry a number": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): 7}}), True),
    "Infinity": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): {**GOOD, "at_one": "@"}}}).replace('"@"', "Infinity"), True),
    "-Infinity": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): {**GOOD, "constant": "@"}}}).replace('"@"', "-Infinity"), True),
    "NaN": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): {**GOOD, "per_sample": "@"}}}).replace('"@"', "NaN"), True),
    "1e400": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): {**GOOD, "at_one": "@"}}}).replace('"@"', "1e400"), True),
    "5000 digits": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): {**GOOD, "at_one": "@"}}}).replace('"@"', "9" * 5000), True),
    "exact not pairs": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): {**GOOD, "checked": 0, "exact": [1, 2]}}}), True),
    "exact a dict": (_file({MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): {**GOOD, "checked": 0, "exact": {"2": 5}}}}), True),
    "key not JSON": (_file({MACHINE: {_GOOD_KEY: GOOD, "{weight": GOOD}}), True),
    "key a list": (_file({MACHINE: {_GOOD_KEY: GOOD, "[1, 2]": GOOD}}), True),
    "key missing a field": (_file({MACHINE: {_GOOD_KEY: GOOD, _GOOD_KEY.replace('"bias":true,', ""): GOOD}}), True),
    "key with a float": (_file({MACHINE: {_GOOD_KEY: GOOD, _GOOD_KEY.replace('"groups":1', '"groups":1.0'): GOOD}}), True),
    "key with deep nesting": (_file({MACHINE: {_GOOD_KEY: GOOD, _DEEP: GOOD}}), True),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_cache_of_the_wrong_shape_is_read_as_absent_and_written_clean(tmp_path: Path, name: str) -> None:
    text, kept = SHAPES[name]
    path = tmp_path / "ws.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    meter = _Meter()
    cache = WorkspaceCache("cpu", path, meter)
    assert cache.entries == ({_GOOD_KEY: Workspace(1300, 1000, 300, 3)} if kept else {})
    assert cache.bytes_at(_sig(2), 2) == 1600 and meter.calls == (0 if kept else 3)
    assert cache.bytes_at(_sig(3), 2) == 1600 and cache.calibrated == (1 if kept else 2)
    cache.save()
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved == {"schema": CACHE_SCHEMA, "machines": {MACHINE: {_GOOD_KEY: GOOD, _sig(3).key(): GOOD}}}


def test_other_machines_malformed_entries_are_left_out_and_good_ones_kept(tmp_path: Path) -> None:
    other = {"a good one": {_GOOD_KEY: GOOD}, "a list": [1], "bad entries": {_GOOD_KEY: {**GOOD, "at_one": True}, "x": 1}}
    path = tmp_path / "ws.json"
    path.write_text(_file(other))
    cache = WorkspaceCache("cpu", path, _Meter())
    cache.bytes_at(_sig(2), 1)
    cache.save()
    machines = json.loads(path.read_text())["machines"]
    assert machines == {"a good one": {_GOOD_KEY: GOOD}, "bad entries": {}, MACHINE: {_GOOD_KEY: GOOD}}


# --- 3: tampered figures -------------------------------------------------------------------------


def _set(field: str, value: Any, target: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], int]:
    def tamper(cache: dict[str, Any]) -> int:
        _entries(cache)[target(cache)][field] = value
        return 1

    return tamper


def _peak_entry(cache: dict[str, Any]) -> str:
    return _key_of(cache, PATCH2VEC)


def _two_entries(cache: dict[str, Any]) -> int:
    _entries(cache)[_peak_entry(cache)]["per_sample"] = 10**30
    _entries(cache)[_key_of(cache, [64, 3, 3, 3])]["at_one"] = -5
    return 2


def _above_bound(cache: dict[str, Any]) -> int:
    """The peak entry raised by a terabyte, consistently (still a fit), but above any real workspace."""
    entry = _entries(cache)[_peak_entry(cache)]
    entry["constant"] += 10**12
    entry["at_one"] += 10**12 if entry["checked"] == 3 else 0
    return 1


TAMPERED: dict[str, Callable[[dict[str, Any]], int]] = {
    "negative": _set("at_one", -1, _peak_entry),
    "zero where the fit says otherwise": _set("at_one", 0, _fitted_from_one),
    "true": _set("at_one", True, _peak_entry),
    "float 1.5": _set("at_one", 1.5, _peak_entry),
    "string": _set("at_one", "5", _peak_entry),
    "10**30": _set("at_one", 10**30, _peak_entry),
    "checked 2": _set("checked", 2, _peak_entry),
    "above the bound": _above_bound,
    "two entries": _two_entries,
}


@pytest.mark.parametrize("name", list(TAMPERED))
def test_a_tampered_entry_is_dropped_and_recalibrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean: Clean, name: str
) -> None:
    cache = json.loads(json.dumps(clean.cache))
    count = TAMPERED[name](cache)
    path = tmp_path / "cache" / "workspaces.json"
    path.parent.mkdir()
    path.write_text(json.dumps(cache), encoding="utf-8")
    code, err = _run(path.parent, tmp_path / "out", capsys)
    assert code == 0 and err == _warning_dropped(path, count)
    assert _figures(tmp_path / "out") == clean.figures  # the same figures as with the clean cache
    # written back without the tampered entries, each recalibrated where this run needs it, every entry
    # well formed (a recalibration's figures may differ where the peak does not depend on them; the peak
    # is checked equal above)
    tampered = {k for k, v in _entries(cache).items() if v != _entries(clean.cache)[k]}
    written = _entries(json.loads(path.read_text(encoding="utf-8")))
    assert _entries(clean.cache).keys() - tampered <= written.keys() <= _entries(clean.cache).keys()
    assert all(entry_of(key, raw, "cpu", workspace_bound) is not None for key, raw in written.items())
    code, err = _run(path.parent, tmp_path / "out", capsys)
    assert code == 0 and err == ""  # once: the file is clean again


def test_every_genuine_entry_is_within_its_bound(clean: Clean) -> None:
    for key, raw in _entries(clean.cache).items():
        assert entry_of(key, raw, "cpu", workspace_bound) is not None, (key, raw)


_CHECKED_4 = {"at_one": 5300, "constant": 1000, "per_sample": 300, "checked": 4, "exact": []}
_NOT_AFFINE = {"at_one": 1300, "constant": 0, "per_sample": 0, "checked": 0, "exact": [[2, 2200], [3, 3700], [4, 5800]]}
_BOUND = workspace_bound(_sig(2))  # 2x8x8 input, 4x8x8 output, 18x8x8 columns, 4x2x3x3 weight, bias: float32

# name -> entry of _sig(2) that no calibration writes
BAD_ENTRIES: dict[str, Any] = {
    "a list": [1300, 1000, 300, 3],
    "a field missing": {k: v for k, v in GOOD.items() if k != "per_sample"},
    "at_one negative": {**_CHECKED_4, "at_one": -1},
    "per_sample negative": {**_CHECKED_4, "per_sample": -1},
    "negative at batch 2": {**_CHECKED_4, "constant": -601},
    "at_one zero, fitted from 1": {**GOOD, "at_one": 0},
    "constant zero, fitted from 1": {**GOOD, "constant": 0},
    "at_one true": {**GOOD, "at_one": True},
    "checked true": {**GOOD, "checked": True},
    "at_one 1.5": {**GOOD, "at_one": 1.5},
    "at_one 1300.0": {**GOOD, "at_one": 1300.0},
    "at_one a string": {**GOOD, "at_one": "1300"},
    "at_one null": {**GOOD, "at_one": None},
    "at_one 10**30": {**_CHECKED_4, "at_one": 10**30},
    "per_sample 10**30": {**_CHECKED_4, "per_sample": 10**30},
    "per_sample above the bound": {**_CHECKED_4, "per_sample": _BOUND.slope + 1, "constant": 0},
    "at_one above the bound": {**_CHECKED_4, "at_one": _BOUND.at(1) + 1},
    "checked 1": {**GOOD, "checked": 1},
    "checked 5": {**GOOD, "checked": 5},
    "exact on an affine entry": {**GOOD, "exact": [[5, 2500]]},
    "exact batch 1": {**_NOT_AFFINE, "exact": [[1, 5], [2, 2200], [3, 3700], [4, 5800]]},
    "exact batch twice": {**_NOT_AFFINE, "exact": [[2, 2200], [2, 2300], [3, 3700], [4, 5800]]},
    "exact bytes negative": {**_NOT_AFFINE, "exact": [[2, -1], [3, 3700], [4, 5800]]},
    "exact a triple": {**_NOT_AFFINE, "exact": [[2, 2200, 0], [3, 3700], [4, 5800]]},
    "exact float": {**_NOT_AFFINE, "exact": [[2, 2200.0], [3, 3700], [4, 5800]]},
    "exact above the bound": {**_NOT_AFFINE, "exact": [[2, 2200], [3, 3700], [4, _BOUND.at(4) + 1]]},
    "exact missing batch 4": {**_NOT_AFFINE, "exact": [[2, 2200], [3, 3700]]},
    "not affine with a slope": {**_NOT_AFFINE, "per_sample": 300},
}


@pytest.mark.parametrize("name", list(BAD_ENTRIES))
def test_an_entry_no_calibration_writes_is_malformed(name: str) -> None:
    assert entry_of(_GOOD_KEY, BAD_ENTRIES[name], "cpu", workspace_bound) is None


def test_entries_a_calibration_writes_are_read_back() -> None:
    assert entry_of(_GOOD_KEY, GOOD, "cpu", workspace_bound) == Workspace(1300, 1000, 300, 3)
    assert entry_of(_GOOD_KEY, _CHECKED_4, "cpu", workspace_bound) == Workspace(5300, 1000, 300, 4)
    not_affine = Workspace(1300, 0, 0, 0, ((2, 2200), (3, 3700), (4, 5800)))
    assert entry_of(_GOOD_KEY, _NOT_AFFINE, "cpu", workspace_bound) == not_affine
    at_the_bound = {**_CHECKED_4, "at_one": _BOUND.at(1), "constant": 0, "per_sample": _BOUND.slope}
    assert entry_of(_GOOD_KEY, at_the_bound, "cpu", workspace_bound) is not None
    # a negative constant is a fit like any other, as long as no batch it covers comes out negative
    assert entry_of(_GOOD_KEY, {**_CHECKED_4, "constant": -600}, "cpu", workspace_bound) is not None
    assert entry_of(_GOOD_KEY, {**GOOD, "constant": -100, "per_sample": 1400}, "cpu", workspace_bound) is not None


def test_the_bound_of_a_signature() -> None:
    # per sample: (2*8*8 input + 4*8*8 output + 2*9*8*8 columns) * 4 B, 64 times, + 1 MiB; weight and bias once
    assert _BOUND.slope == 64 * (128 + 256 + 1152) * 4 + 2**20
    assert _BOUND.base == 64 * (4 * 2 * 9 + 4) * 4


BAD_KEYS = {
    "not JSON": "{",
    "not canonical": json.dumps(asdict(_sig(2))),
    "an unknown field": _GOOD_KEY[:-1] + ',"zz":1}',
    "groups a bool": _GOOD_KEY.replace('"groups":1', '"groups":true'),
    "a negative size": _GOOD_KEY.replace('"sample":[2,8,8]', '"sample":[2,-8,8]'),
    "an unknown dtype": _GOOD_KEY.replace('"float32"', '"float99"'),
    "a dtype that is no dtype": _GOOD_KEY.replace('"float32"', '"nn"'),
    "another device": _GOOD_KEY.replace('"cpu"', '"cuda"'),
    "channels that do not match": _GOOD_KEY.replace('"weight":[4,2,3,3]', '"weight":[4,3,3,3]'),
    "an output of no size": _GOOD_KEY.replace('"padding":[1,1]', '"padding":[0,0]').replace('"sample":[2,8,8]', '"sample":[2,2,2]'),
    "ranks that differ": _GOOD_KEY.replace('"stride":[1,1]', '"stride":[1]'),
    "an unknown layout": _GOOD_KEY.replace('"contiguous"', '"strided:0,1,1,3"'),
    "a layout of 5000 digits": _GOOD_KEY.replace('"contiguous"', '"strided:0,1,2,' + "9" * 5000 + '"'),
    "channels_last of a 3D input": ConvSignature(
        (2, 4, 8, 8), (4, 2, 3, 3, 3), True, (1, 1, 1), (1, 1, 1), (1, 1, 1), False, (0, 0, 0), 1, "float32", "cpu", "channels_last"
    ).key(),
}


@pytest.mark.parametrize("name", list(BAD_KEYS))
def test_a_key_that_is_no_signature_of_this_device_is_malformed(name: str) -> None:
    assert entry_of(BAD_KEYS[name], GOOD, "cpu", workspace_bound) is None


def test_a_key_is_parsed_back_to_its_signature() -> None:
    assert signature_from_key(_GOOD_KEY) == _sig(2)
    permuted = ConvSignature((3, 4, 8, 8), (8, 3, 3, 3, 3), False, (1, 1, 1), (1, 1, 1), (1, 1, 1), False, (0, 0, 0), 1, "bfloat16", "cpu", "strided:0,2,1,3,4")
    assert signature_from_key(permuted.key()) == permuted


# --- 4: the cache's place, an interrupted calibration, concurrent runs --------------------------


def test_a_tilde_in_the_cache_variables_is_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(CACHE_ENV, "~/mine")
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "~/xdg")
    assert cache_dir() == tmp_path / "xdg" / "dstt-profile"


class _StopsAt(CpuProfilerMeter):
    """The real meter, stopped by `stop` at its `at`-th probe."""

    def __init__(self, at: int, stop: BaseException) -> None:
        self.at, self.stop, self.calls = at, stop, 0

    def peak(self, call: Callable[[], R]) -> tuple[int, R]:
        self.calls += 1
        if self.calls == self.at:
            raise self.stop
        return super().peak(call)


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [(KeyboardInterrupt(), 130, "dstt-profile: interrupted\n"), (Stopped(signal.SIGTERM), 143, "dstt-profile: stopped by SIGTERM\n")],
)
def test_an_interrupted_run_keeps_the_calibrations_it_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stop: BaseException, code: int, said: str
) -> None:
    path = tmp_path / "workspaces.json"
    cache = WorkspaceCache("cpu", path, _StopsAt(10, stop))  # 3 or 4 probes each: 2 or more calibrated
    capsys.readouterr()
    with _default_cache_in(tmp_path, cache):
        assert main([*RUN, "--out", str(tmp_path / "out")]) == code
    assert capsys.readouterr().err == said
    saved = json.loads(path.read_text(encoding="utf-8"))["machines"][MACHINE]
    assert cache.calibrated >= 2 and saved == json.loads(json.dumps({k: asdict(w) for k, w in cache.entries.items()}))
    again = WorkspaceCache("cpu", path, _Meter())
    assert again.entries == cache.entries


def test_three_concurrent_calibrations_into_one_empty_cache_agree(tmp_path: Path) -> None:
    path = tmp_path / "ws.json"
    start = threading.Barrier(3)
    caches = [WorkspaceCache("cpu", path, _Meter()) for _ in range(3)]

    def calibrate(cache: WorkspaceCache) -> None:
        start.wait()
        for channels in (1, 2, 3, 4):
            cache.bytes_at(_sig(channels), 2)
        cache.save()

    threads = [threading.Thread(target=calibrate, args=(c,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = {_sig(c).key(): GOOD for c in (1, 2, 3, 4)}
    assert json.loads(path.read_text()) == {"schema": CACHE_SCHEMA, "machines": {MACHINE: expected}}
    assert all(c.entries == caches[0].entries for c in caches)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws.json"]  # no temporary file left
