"""How much memory a new allocation can still get: MemAvailable, or less the room under `ulimit -v`."""

from __future__ import annotations

import resource
from pathlib import Path


def _kib_field(path: Path, name: str) -> int | None:
    """A 'Name:   1234 kB' line of a /proc file, in bytes (None where there is no such file or line)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if key == name and parts and parts[0].isascii() and parts[0].isdigit():
            return int(parts[0]) * 1024
    return None


def available_bytes(meminfo: Path = Path("/proc/meminfo"),
                    status: Path = Path("/proc/self/status")) -> tuple[int, str] | None:
    """(bytes a new allocation can still get, what limits it), or None where neither can be read."""
    options: list[tuple[int, str]] = []
    free = _kib_field(meminfo, "MemAvailable")
    if free is not None:
        options.append((free, "available memory (MemAvailable)"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        used = _kib_field(status, "VmSize") or 0
        options.append((max(soft - used, 0), "the address space limit (ulimit -v)"))
    return min(options) if options else None
