"""The footprint: the whole memory one pass needs on its device, as parts that add up exactly (docs/memory.md),
and a training step's peak split by what holds it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dstt_profile.records.figures import PeakRecord
from dstt_profile.records.runconfig import RunConfig


@dataclass(frozen=True)
class FootprintRecord:
    """In train mode `gradients_in_peak` and `saved_in_peak` are parts of `activations`, never added again."""

    total: int = 0
    mode: str = "inference"  # train: forward + backward, with optimizer state
    weights: int = 0
    input: int = 0
    activations: int = 0
    optimizer: int = 0  # optimizer state kept between steps (train mode)
    optimizer_name: str = "none"
    context: int = 0  # the CUDA context: an assumed allowance (CUDA_CONTEXT_BYTES), 0 on CPU
    gradients_in_peak: int = -1
    saved_in_peak: int = -1


# Optimizer name -> tensors of parameter size it keeps per parameter.
OPTIMIZER_STATES: dict[str, int] = {"adam": 2, "sgd": 1, "none": 0}

# ASSUMPTION, not traced: the CUDA context (driver, kernels, cuBLAS/cuDNN handles) before the first tensor;
# it varies with the driver, the GPU and lazy module loading; 512 MiB is typical for PyTorch on a current GPU.
CUDA_CONTEXT_BYTES = 512 * 1024**2


def footprint(run: RunConfig, params: int, param_bytes: int, input_bytes: int, activations: int) -> FootprintRecord:
    """The footprint of `run`; `param_bytes` includes buffers, `activations` is the allocator peak."""
    train = run.mode == "train"
    optimizer = run.optimizer if train else "none"
    state = OPTIMIZER_STATES[optimizer] * params * run.element_bytes
    context = CUDA_CONTEXT_BYTES if run.device == "cuda" else 0
    split = -1 if train else 0
    return FootprintRecord(param_bytes + input_bytes + activations + state + context, run.mode, param_bytes, input_bytes,
                           activations, state, optimizer, context, split, split)


ADAM_STATES = OPTIMIZER_STATES["adam"]  # exp_avg, exp_avg_sq


class Held(StrEnum):
    """What holds the bytes at a train-mode peak (the storage split: engine/storagesplit.py)."""

    GRADIENTS = "gradients"  # the `.grad` storages of parameters accumulated so far
    SAVED = "saved"  # storages autograd packed for backward, not yet released
    TEMPORARIES = "temporaries"  # everything else live: outputs, gradients of activations, workspaces


@dataclass(frozen=True)
class TrainingSplit:
    """Bytes at a training step's tensor peak by what holds them (`held` sums to `tensor_peak.bytes`)."""

    tensor_peak: PeakRecord
    parameters: int  # resident weights (outside the peak)
    held: dict[Held, int]
    saved_total: int  # bytes saved for backward when the forward pass ends

    @property
    def gradients(self) -> int:
        return self.held[Held.GRADIENTS]

    @property
    def saved(self) -> int:
        return self.held[Held.SAVED]

    @property
    def temporaries(self) -> int:
        return self.held[Held.TEMPORARIES]

    @property
    def adam_state(self) -> int:
        return ADAM_STATES * self.parameters

    @property
    def footprint(self) -> int:
        return self.parameters + self.tensor_peak.bytes + self.adam_state
