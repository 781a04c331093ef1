"""`RunConfig`: what one profiling run is, parsed and validated once at the edge (CLI or API)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import torch

from dstt_profile.errors import UsageError
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
MAX_FRAMES = 1 << 20


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

    def __post_init__(self) -> None:
        for name in ("frames", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if self.frames > MAX_FRAMES:
            raise UsageError(f"frames {self.frames} is more than {MAX_FRAMES}")
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
        problem = first_problem(self._model_config_unchecked())
        if problem is not None:
            raise UsageError(problem)

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
        if self.device != "cpu":
            parts.append(self.device)
        if self.memory != "allocator":
            parts.append(self.memory)
        if self.real:
            parts.append("measured")
        return "_".join(parts)


_RES = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_res(text: str) -> tuple[int, int]:
    """'240x432' -> (240, 432). Validity against the network's rules is checked by RunConfig."""
    m = _RES.match(text)
    if not m:
        raise UsageError(f"--res {text!r} is not HEIGHTxWIDTH (for example 240x432)")
    return int(m.group(1)), int(m.group(2))


def _frame(text: str, whole: str) -> int:
    if not text.strip().isdigit():
        raise UsageError(f"--frames {whole!r}: {text!r} is not a whole number")
    value = int(text)
    if value < 1:
        raise UsageError(f"--frames {whole!r}: frame counts start at 1, got {value}")
    if value > MAX_FRAMES:
        raise UsageError(f"--frames {whole!r}: {value} is more than {MAX_FRAMES}")
    return value


def parse_frames(text: str) -> tuple[int, ...]:
    """'14' -> (14,); '1,2,4,8' -> (1, 2, 4, 8); '1:32' -> 1..32; '1:64:8' -> 1, 9, ..., 57 (start:stop:step,
    stop inclusive when the step lands on it)."""
    text = str(text)
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise UsageError(f"--frames {text!r}: a range is START:STOP or START:STOP:STEP")
        start, stop = _frame(parts[0], text), _frame(parts[1], text)
        step = _frame(parts[2], text) if len(parts) == 3 else 1
        if stop < start:
            raise UsageError(f"--frames {text!r}: the range ends ({stop}) before it starts ({start})")
        values = tuple(range(start, stop + 1, step))
        if len(values) > 4096:
            raise UsageError(f"--frames {text!r}: {len(values)} values is more than 4096")
        return values
    values = tuple(_frame(part, text) for part in text.split(","))
    if len(set(values)) != len(values):
        raise UsageError(f"--frames {text!r}: a frame count is repeated")
    return values
