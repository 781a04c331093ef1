"""The thread count a run is predicted for: kernels choose per thread (flash attention's buffers, ATen's
choice of convolution), so a trace, its calibrations and its real passes run at the run's count."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def thread_count(threads: int) -> Iterator[None]:
    """torch's intra-op thread count is `threads` within the block."""
    before = torch.get_num_threads()
    if threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
