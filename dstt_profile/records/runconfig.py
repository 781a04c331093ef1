"""`RunConfig`: what one profiling run is, parsed and validated once at the edge (CLI or API)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import torch

from dstt_profile.errors import UsageError
from dstt_profile.numbers import INT64_MAX, shown, whole_number
from model.config import ATTENTION_BACKENDS, DSTTConfig, first_problem

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
# The most clip lengths one sweep may ask for, in list or range form. All but five are derived without
# per-op detail (polysummary.py): 4096 take about 12 s, 0.6 GB of memory and a 36 MB JSON on 2 cores.
MAX_SWEEP = 4096
_WHOLE_FIELDS = ("frames", "batch", "height", "width", "heads", "zones", "blocks", "hidden", "channel")


@dataclass(frozen=True)
class RunConfig:
    """One run: the clip, the network's size, and how it is executed.

    `real=False` (the default) traces under FakeTensorMode on `device`'s type: no memory, any t.
    `real=True` runs real tensors on `device`.
    """

    frames: int = 14
    height: int = 240
    width: int = 432
    batch: int = 1
    dtype: str = "float32"
    device: str = "cpu"
    attention: str = "matmul"
    mode: str = "inference"
    real: bool = False
    heads: int = 4
    zones: int = 2
    blocks: int = 8
    hidden: int = 512
    channel: int = 256
    memory: str = "allocator"
    optimizer: str = "adam"

    def __post_init__(self) -> None:
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
        if self.attention not in ATTENTION_BACKENDS:
            raise UsageError(f"attention {self.attention!r} is not one of {', '.join(ATTENTION_BACKENDS)}")
        if self.mode not in MODES:
            raise UsageError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.memory not in MEMORY_VIEWS:
            raise UsageError(f"memory {self.memory!r} is not one of {', '.join(MEMORY_VIEWS)}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        problem = first_problem(self._model_config_unchecked())
        if problem is not None:
            raise UsageError(problem)
        clip = self.batch * self.frames * 3 * self.height * self.width
        if clip * self.torch_dtype.itemsize > INT64_MAX:
            raise UsageError(
                f"the input clip (batch {self.batch} x t {self.frames} x 3 x {self.height} x {self.width}) is "
                f"{clip:,} elements: more bytes than a 64-bit size can count"
            )

    def _model_config_unchecked(self) -> DSTTConfig:
        cfg = object.__new__(DSTTConfig)
        for f in dataclasses.fields(DSTTConfig):
            object.__setattr__(cfg, f.name, f.default)
        for name in ("height", "width", "heads", "zones", "blocks", "hidden", "channel", "attention"):
            object.__setattr__(cfg, name, getattr(self, name))
        return cfg

    def model_config(self) -> DSTTConfig:
        return DSTTConfig(
            height=self.height,
            width=self.width,
            heads=self.heads,
            zones=self.zones,
            blocks=self.blocks,
            hidden=self.hidden,
            channel=self.channel,
            attention=self.attention,
        )

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

    def slug(self) -> str:
        """File-name stem: dstt_t14_240x432_float32 (+ variants that differ from the defaults)."""
        parts = [f"dstt_t{self.frames}", self.res, self.dtype]
        if self.batch != 1:
            parts.append(f"b{self.batch}")
        if self.attention != "matmul":
            parts.append(self.attention)
        if self.mode != "inference":
            parts.append(self.mode)
            if self.optimizer != "adam":
                parts.append(self.optimizer)
        if self.device != "cpu":
            parts.append(self.device)
        if self.memory != "allocator":
            parts.append(self.memory)
        if self.real:
            parts.append("measured")
        return "_".join(parts)


_RES = re.compile(r"\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*", re.ASCII)


def parse_res(value: object, option: str = "--res") -> tuple[int, int]:
    """The one reader of a frame size, wherever it is given: text '240x432' (command line, budgets
    file, API) or a pair (240, 432) (API, budgets file) -> (240, 432). Each side is a whole number of
    at least 1; its validity against the network's rules is checked by RunConfig."""
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
