"""Peak meters: the most the allocator held above its start while a call ran (the device-specific part)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import torch

from dstt_profile.engine.allocations import net_peak, record_allocations

R = TypeVar("R")


class PeakMeter(Protocol):
    method: str

    def peak(self, call: Callable[[], R]) -> tuple[int, R]:
        """(bytes allocated above the start at the highest point during `call`, its result)."""
        ...


class CpuProfilerMeter:
    method = "torch.profiler memory events (profile_memory=True): net allocation peak"

    def peak(self, call: Callable[[], R]) -> tuple[int, R]:
        log, result = record_allocations(call)
        return net_peak(log.events), result


class CudaMeter:
    method = "torch.cuda.max_memory_allocated() - memory_allocated() before, after reset_peak_memory_stats()"

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def peak(self, call: Callable[[], R]) -> tuple[int, R]:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        result = call()
        torch.cuda.synchronize(self.device)
        return torch.cuda.max_memory_allocated(self.device) - before, result


def meter_for(device: str) -> PeakMeter:
    return CudaMeter(torch.device("cuda")) if device == "cuda" else CpuProfilerMeter()


def synchronize(device: str) -> None:
    """Wait for queued kernels (CUDA), so wall times measure the work; nothing to wait for on CPU."""
    if device == "cuda":
        torch.cuda.synchronize()
