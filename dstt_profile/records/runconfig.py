"""`RunConfig`: what one profiling run is, validated once however it was given (runs.build_run)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from dstt_profile.errors import UsageError
from dstt_profile.values import INT64_MAX, shown, whole_number

# dtype name -> (dtype the tensors are computed in, bytes per element reported). int8 is a storage
# what-if: computed in float32, every floating tensor counted at 1 byte per element, as the seed analysis.
DTYPES: dict[str, tuple[torch.dtype, int]] = {"float32": (torch.float32, 4), "float16": (torch.float16, 2),
                                               "bfloat16": (torch.bfloat16, 2), "int8": (torch.float32, 1)}
DEVICES = ("cpu", "cuda")
MODES = ("inference", "train")
# Which peak is the headline: what the device's allocator holds (the default), or the tensors alone.
MEMORY_VIEWS = ("allocator", "tensors")
# The optimizer whose state a training step keeps resident (its bytes: records/footprint.py); unused in inference.
OPTIMIZERS = ("adam", "sgd", "none")
CHOICES = {"dtype": tuple(DTYPES), "device": DEVICES, "mode": MODES, "memory": MEMORY_VIEWS, "optimizer": OPTIMIZERS}
MAX_FRAMES = 1 << 20  # the largest clip length t one run may ask for
MAX_THREADS = 1024  # the most CPU threads a run may be predicted for
# The most clip lengths one sweep may ask for, in list or range form. All but five are derived without
# per-op detail (polysummary.py): 4096 take about 11.5 s, 0.5 GB of memory and a 43 MB JSON on 2 cores.
MAX_SWEEP = 4096
_WHOLE_FIELDS = ("frames", "batch", "height", "width")
DEFAULT_MODEL = "dstt"  # the built-in profile's name

ArgValue = int | float | bool | str
ModelArgs = tuple[tuple[str, ArgValue], ...]
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def model_args_of(value: Any) -> ModelArgs:
    """Model arguments (a mapping or pairs) as RunConfig holds them: (identifier, int | float | bool | str), sorted."""
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = [(k, v) for k, v in items]
    except (TypeError, ValueError):
        raise UsageError(f"model_args must be a mapping of names to values, got {shown(value)}", "model_args") from None
    seen: dict[str, ArgValue] = {}
    for key, val in pairs:
        if not isinstance(key, str) or not _ARG_NAME.fullmatch(key):
            raise UsageError(f"model argument name {shown(key)} is not an identifier", "model_args")
        if key in seen:
            raise UsageError(f"model argument {key!r} is given twice", f"model_args.{key}")
        if not isinstance(val, (int, float, bool, str)):
            raise UsageError(f"model argument {key}={shown(val)}: values are int, float, bool or str", f"model_args.{key}")
        if isinstance(val, float) and not math.isfinite(val):
            raise UsageError(f"model argument {key}={val!r} is not a finite number", f"model_args.{key}")
        seen[key] = val
    return tuple(sorted(seen.items()))


def _whole(value: Any, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


@dataclass(frozen=True)
class RunConfig:
    """One run: the clip, the model ("dstt", "path/to/file.py:Name" or "package.module:name"; which
    `model_args` it takes is its profile's), and how it is executed. Every error names its field."""

    frames: int = 14
    height: int = 240
    width: int = 432
    batch: int = 1
    dtype: str = "float32"
    device: str = "cpu"
    mode: str = "inference"
    real: bool = False
    memory: str = "allocator"
    optimizer: str = "adam"
    model: str = DEFAULT_MODEL
    model_args: ModelArgs = ()
    model_path: tuple[str, ...] = ()
    stages: str | None = None
    inputs: str | None = None  # what the forward is called with: 'FILE.py:function' or 'package.module:function'
    threads: int = 0  # the CPU thread count predicted for; 0: this process's (torch.get_num_threads())

    def __post_init__(self) -> None:
        if self.threads == 0 and not isinstance(self.threads, bool):
            object.__setattr__(self, "threads", torch.get_num_threads())
        if not _whole(self.threads) or self.threads > MAX_THREADS:
            raise UsageError(f"threads must be a whole number from 1 to {MAX_THREADS}, got {shown(self.threads)}", "threads")
        for name in _WHOLE_FIELDS:
            if not _whole(getattr(self, name)):
                raise UsageError(f"{name} must be a positive integer, got {shown(getattr(self, name))}", name)
        if self.frames > MAX_FRAMES:
            raise UsageError(f"frames {self.frames} is more than {MAX_FRAMES}", "frames")
        if not isinstance(self.real, bool):
            raise UsageError(f"real must be True or False, got {shown(self.real)}", "real")
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise UsageError(f"{name} {shown(getattr(self, name))} is not one of {', '.join(choices)}", name)
        if not isinstance(self.model, str) or not self.model.strip():
            raise UsageError(f"model must be a name such as 'dstt' or 'file.py:Factory', got {shown(self.model)}", "model")
        object.__setattr__(self, "model_args", model_args_of(self.model_args))
        paths = (self.model_path,) if isinstance(self.model_path, str) else self.model_path
        if not isinstance(paths, (tuple, list)) or not all(isinstance(p, str) and p for p in paths):
            raise UsageError(f"model_path must be directory names, got {shown(self.model_path)}", "model_path")
        object.__setattr__(self, "model_path", tuple(paths))
        if self.stages is not None and (not isinstance(self.stages, str) or not self.stages):
            raise UsageError(f"stages must be a stage-map file name or None, got {shown(self.stages)}", "stages")
        if self.inputs is not None and (not isinstance(self.inputs, str) or not self.inputs.strip()):
            raise UsageError(f"inputs must be a reference such as 'inputs.py:make' or None, got {shown(self.inputs)}", "inputs")
        clip = self.batch * self.frames * 3 * self.height * self.width
        if clip * self.torch_dtype.itemsize > INT64_MAX:
            raise UsageError(f"the input clip (batch {self.batch} x t {self.frames} x 3 x {self.height} x {self.width}) is "
                             f"{clip:,} elements: more bytes than a 64-bit size can count",
                             max(_WHOLE_FIELDS, key=lambda name: getattr(self, name)))

    @property
    def args(self) -> dict[str, ArgValue]:
        return dict(self.model_args)

    def arg(self, name: str, default: ArgValue | None = None) -> ArgValue | None:
        return self.args.get(name, default)

    def with_args(self, **changes: ArgValue) -> RunConfig:
        return self.replace(model_args={**self.args, **changes})

    def input_files(self) -> dict[str, str]:
        """The files this run reads (its model file, its stage map), by what they are: no output may be one."""
        target, sep, _ = self.model.rpartition(":")
        files = {f"the model file of --model {self.model}": target} if sep and target.endswith(".py") else {}
        source, sep, _ = (self.inputs or "").rpartition(":")
        if sep and source.endswith(".py"):
            files[f"the inputs file of --inputs {self.inputs}"] = source
        return {**files, **({"the stage map": self.stages} if self.stages is not None else {})}

    @property
    def model_name(self) -> str:
        """The model's name for file names: 'dstt'; 'video.py:TinyNet' -> 'tinynet'."""
        name = self.model.rpartition(":")[2]
        name = re.sub(r"[^a-z0-9]+", "_", name.rpartition(".")[2].lower()).strip("_")
        return name or "model"

    @property
    def res(self) -> str:
        return f"{self.height}x{self.width}"

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype][0]

    @property
    def element_bytes(self) -> int:  # of floating tensors, as reported
        return DTYPES[self.dtype][1]

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "model_args": self.args,
                "model_path": list(self.model_path)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UsageError(f"unknown run setting {unknown[0]!r}", unknown[0])
        paths = data.get("model_path")
        return cls(**{**data, **({"model_path": tuple(paths)} if isinstance(paths, list) else {})})

    def slug(self, variants: Sequence[str] = ()) -> str:
        """File-name stem: dstt_t14_240x432_float32, + `variants` (the profile's words for model
        arguments) and the settings that differ from the defaults."""
        train = self.mode != "inference"
        words = [(self.batch != 1, f"b{self.batch}"), *((True, v) for v in variants), (train, self.mode),
                 (train and self.optimizer != "adam", self.optimizer), (self.device != "cpu", self.device),
                 (self.threads != torch.get_num_threads(), f"threads{self.threads}"),
                 (self.memory != "allocator", self.memory), (self.real, "measured")]
        return "_".join([f"{self.model_name}_t{self.frames}", self.res, self.dtype, *(w for shown, w in words if shown)])


_RES = re.compile(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", re.ASCII)


def parse_res(value: object, option: str = "--res") -> tuple[int, int]:
    """The one reader of a frame size: '240x432' or (240, 432) -> (240, 432), each side at least 1."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        sides = value[0], value[1], f"{option} height", f"{option} width"
    elif isinstance(value, str) and (m := _RES.fullmatch(value)):
        sides = m.group(1), m.group(2), f"{option} {shown(value)}: height", f"{option} {shown(value)}: width"
    elif isinstance(value, str):
        raise UsageError(f"{option} {shown(value)} is not HEIGHTxWIDTH (for example 240x432)", "res")
    else:
        raise UsageError(f"{option} must be 'HEIGHTxWIDTH' or (height, width), got {shown(value)}", "res")
    try:
        return whole_number(sides[0], sides[2], 1), whole_number(sides[1], sides[3], 1)
    except UsageError as exc:
        raise UsageError(str(exc), "res") from None


def _frame(text: str, whole: str, option: str) -> int:
    if (value := whole_number(text, f"{option} {shown(whole)}: frame count", 0, MAX_FRAMES)) < 1:
        raise UsageError(f"{option} {shown(whole)}: frame counts start at 1, got {value}")
    return value


def check_frames(values: tuple[int, ...], given: object, option: str = "--frames") -> tuple[int, ...]:
    """The rules of every set of clip lengths, however written: at least one, none twice, at most MAX_SWEEP."""
    if not values:
        raise UsageError(f"{option} {shown(given)}: no frame counts")
    _at_most_sweep(len(values), given, option)
    if len(set(values)) != len(values):
        raise UsageError(f"{option} {shown(given)}: a frame count is repeated")
    return values


def parse_frames(text: str, option: str = "--frames") -> tuple[int, ...]:
    """'14' -> (14,); '1,2,4,8' -> (1, 2, 4, 8); '1:32' -> 1..32; '1:64:8' -> 1, 9, ..., 57 (start:stop:step,
    stop inclusive when the step lands on it)."""
    if not isinstance(text, str):
        raise UsageError(f"{option} {shown(text)} is not text such as '14', '1,2,4' or '1:32'")
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise UsageError(f"{option} {shown(text)}: a range is START:STOP or START:STOP:STEP")
        start, stop = _frame(parts[0], text, option), _frame(parts[1], text, option)
        step = _frame(parts[2], text, option) if len(parts) == 3 else 1
        if stop < start:
            raise UsageError(f"{option} {shown(text)}: the range ends ({stop}) before it starts ({start})")
        _at_most_sweep((stop - start) // step + 1, text, option)  # refused before the range is built
        return check_frames(tuple(range(start, stop + 1, step)), text, option)
    parts = text.split(",")
    _at_most_sweep(len(parts), text, option)
    return check_frames(tuple(_frame(part, text, option) for part in parts), text, option)


def _at_most_sweep(count: int, given: object, option: str) -> None:
    if count > MAX_SWEEP:
        raise UsageError(f"{option} {shown(given)}: {count} frame counts is more than {MAX_SWEEP} in one run")
