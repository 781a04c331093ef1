"""`RunConfig`: what one profiling run is, parsed and validated once at the edge (CLI or API)."""

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

# dtype name -> (dtype the tensors are computed in, bytes per element reported).
# int8 is a storage what-if: computed in float32, every floating tensor counted at 1 byte per element,
# as the seed analysis counted.
DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "float32": (torch.float32, 4),
    "float16": (torch.float16, 2),
    "bfloat16": (torch.bfloat16, 2),
    "int8": (torch.float32, 1),
}
DEVICES = ("cpu", "cuda")
MODES = ("inference", "train")
# Which peak is the headline: what the device's allocator holds (the default), or the tensors alone.
MEMORY_VIEWS = ("allocator", "tensors")
# The optimizer whose state a training step keeps resident (its bytes: footprint.py); unused in inference.
OPTIMIZERS = ("adam", "sgd", "none")
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
    """Model arguments as RunConfig holds them: (name, value) pairs sorted by name, from a mapping or
    pairs; names are identifiers, values int, float, bool or str."""
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = [(k, v) for k, v in items]
    except (TypeError, ValueError):
        raise UsageError(f"model_args must be a mapping of names to values, got {shown(value)}") from None
    seen: dict[str, ArgValue] = {}
    for key, val in pairs:
        if not isinstance(key, str) or not _ARG_NAME.fullmatch(key):
            raise UsageError(f"model argument name {shown(key)} is not an identifier")
        if key in seen:
            raise UsageError(f"model argument {key!r} is given twice")
        if not isinstance(val, (int, float, bool, str)):
            raise UsageError(f"model argument {key}={shown(val)}: values are int, float, bool or str")
        if isinstance(val, float) and not math.isfinite(val):
            raise UsageError(f"model argument {key}={val!r} is not a finite number")
        seen[key] = val
    return tuple(sorted(seen.items()))


@dataclass(frozen=True)
class RunConfig:
    """One run: the clip, the model, and how it is executed.

    `model` names what is profiled: "dstt" (the built-in network), "path/to/file.py:Name" or
    "package.module:name" (a class or factory returning an `nn.Module`). `model_args` are its
    arguments (a mapping or (name, value) pairs; held sorted, read as a dict through `args`),
    `model_path` extra import roots for it, `stages` a stage-map file (TOML) or None.
    Which arguments a model takes, and their rules, belong to its profile (profiles/registry.py).

    `real=False` (the default) traces under FakeTensorMode on `device`'s type: no memory, any t.
    `real=True` runs real tensors on `device`.
    """

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
    threads: int = 0  # the CPU thread count predicted for; 0: this process's (torch.get_num_threads())

    def __post_init__(self) -> None:
        if self.threads == 0 and not isinstance(self.threads, bool):
            object.__setattr__(self, "threads", torch.get_num_threads())
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 1 <= self.threads <= MAX_THREADS:
            raise UsageError(f"threads must be a whole number from 1 to {MAX_THREADS}, got {shown(self.threads)}")
        for name in _WHOLE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if self.frames > MAX_FRAMES:
            raise UsageError(f"frames {self.frames} is more than {MAX_FRAMES}")
        if not isinstance(self.real, bool):
            raise UsageError(f"real must be True or False, got {self.real!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.device not in DEVICES:
            raise UsageError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.mode not in MODES:
            raise UsageError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.memory not in MEMORY_VIEWS:
            raise UsageError(f"memory {self.memory!r} is not one of {', '.join(MEMORY_VIEWS)}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise UsageError(f"model must be a name such as 'dstt' or 'file.py:Factory', got {shown(self.model)}")
        object.__setattr__(self, "model_args", model_args_of(self.model_args))
        paths = (self.model_path,) if isinstance(self.model_path, str) else self.model_path
        if not isinstance(paths, (tuple, list)) or not all(isinstance(p, str) and p for p in paths):
            raise UsageError(f"model_path must be directory names, got {shown(self.model_path)}")
        object.__setattr__(self, "model_path", tuple(paths))
        if self.stages is not None and (not isinstance(self.stages, str) or not self.stages):
            raise UsageError(f"stages must be a stage-map file name or None, got {shown(self.stages)}")
        clip = self.batch * self.frames * 3 * self.height * self.width
        if clip * self.torch_dtype.itemsize > INT64_MAX:
            raise UsageError(
                f"the input clip (batch {self.batch} x t {self.frames} x 3 x {self.height} x {self.width}) is "
                f"{clip:,} elements: more bytes than a 64-bit size can count"
            )

    @property
    def args(self) -> dict[str, ArgValue]:
        """The model arguments as a dict."""
        return dict(self.model_args)

    def arg(self, name: str, default: ArgValue | None = None) -> ArgValue | None:
        return self.args.get(name, default)

    def with_args(self, **changes: ArgValue) -> RunConfig:
        """This run with some model arguments set (others kept)."""
        return self.replace(model_args={**self.args, **changes})

    def input_files(self) -> dict[str, str]:
        """The files this run reads, by what they are: its model file (a `FILE.py:Name` reference) and
        its stage map. No output may be one of them."""
        files = {}
        target, sep, _ = self.model.rpartition(":")
        if sep and target.endswith(".py"):
            files[f"the model file of --model {self.model}"] = target
        if self.stages is not None:
            files["the stage map"] = self.stages
        return files

    @property
    def model_name(self) -> str:
        """A short name of the model for file names: 'dstt', or the attribute a reference names
        ('video.py:TinyNet' -> 'tinynet')."""
        name = self.model.rpartition(":")[2] if ":" in self.model else self.model
        name = re.sub(r"[^a-z0-9]+", "_", name.rpartition(".")[2].lower()).strip("_")
        return name or "model"

    @property
    def res(self) -> str:
        return f"{self.height}x{self.width}"

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype][0]

    @property
    def element_bytes(self) -> int:
        """Bytes per element of floating tensors, as reported."""
        return DTYPES[self.dtype][1]

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as a record's `config` holds them (model_args as an object)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["model_args"] = self.args
        out["model_path"] = list(self.model_path)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """The inverse of `to_dict` (UsageError for a field RunConfig does not have)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UsageError(f"unknown run setting {unknown[0]!r}")
        values = dict(data)
        if isinstance(values.get("model_path"), list):
            values["model_path"] = tuple(values["model_path"])
        return cls(**values)

    def slug(self, variants: Sequence[str] = ()) -> str:
        """File-name stem: dstt_t14_240x432_float32 (+ `variants`, the profile's words for model
        arguments that differ from its defaults, + settings that differ from the defaults)."""
        parts = [f"{self.model_name}_t{self.frames}", self.res, self.dtype]
        if self.batch != 1:
            parts.append(f"b{self.batch}")
        parts.extend(variants)
        if self.mode != "inference":
            parts.append(self.mode)
            if self.optimizer != "adam":
                parts.append(self.optimizer)
        if self.device != "cpu":
            parts.append(self.device)
        if self.threads != torch.get_num_threads():
            parts.append(f"threads{self.threads}")
        if self.memory != "allocator":
            parts.append(self.memory)
        if self.real:
            parts.append("measured")
        return "_".join(parts)


_RES = re.compile(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", re.ASCII)


def parse_res(value: object, option: str = "--res") -> tuple[int, int]:
    """The one reader of a frame size, wherever it is given: text '240x432' (command line, budgets
    file, API) or a pair (240, 432) (API, budgets file) -> (240, 432). Each side is a whole number of
    at least 1; its validity against the model's rules is checked by its profile."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return whole_number(value[0], f"{option} height", 1), whole_number(value[1], f"{option} width", 1)
    if not isinstance(value, str):
        raise UsageError(f"{option} must be 'HEIGHTxWIDTH' or (height, width), got {shown(value)}")
    m = _RES.fullmatch(value)
    if m is None:
        raise UsageError(f"{option} {shown(value)} is not HEIGHTxWIDTH (for example 240x432)")
    return (
        whole_number(m.group(1), f"{option} {shown(value)}: height", 1),
        whole_number(m.group(2), f"{option} {shown(value)}: width", 1),
    )


def _frame(text: str, whole: str, option: str) -> int:
    value = whole_number(text, f"{option} {shown(whole)}: frame count", 0, MAX_FRAMES)
    if value < 1:
        raise UsageError(f"{option} {shown(whole)}: frame counts start at 1, got {value}")
    return value


def check_frames(values: tuple[int, ...], given: object, option: str = "--frames") -> tuple[int, ...]:
    """The rules every set of clip lengths obeys, however it was written: at least one, none twice, at
    most MAX_SWEEP of them (each already a whole number in 1..MAX_FRAMES)."""
    if not values:
        raise UsageError(f"{option} {shown(given)}: no frame counts")
    if len(values) > MAX_SWEEP:
        raise UsageError(f"{option} {shown(given)}: {len(values)} frame counts is more than {MAX_SWEEP} in one run")
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
        count = (stop - start) // step + 1
        if count > MAX_SWEEP:  # refused before the range is built
            raise UsageError(f"{option} {shown(text)}: {count} frame counts is more than {MAX_SWEEP} in one run")
        return check_frames(tuple(range(start, stop + 1, step)), text, option)
    parts = text.split(",")
    if len(parts) > MAX_SWEEP:
        raise UsageError(f"{option} {shown(text)}: {len(parts)} frame counts is more than {MAX_SWEEP} in one run")
    return check_frames(tuple(_frame(part, text, option) for part in parts), text, option)
