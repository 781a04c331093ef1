"""Input TOML read in one way; output files checked before any work starts, written to a temporary name
beside the target and renamed over it, every temporary name removed whatever ends the process."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dstt_profile.errors import UsageError

_PENDING: set[str] = set()  # temporary files written but not yet renamed


def read_toml(path: Path, where: str, *messages: str) -> dict[str, Any]:
    """`path` as TOML, else UsageError `where: message`, `messages` being for a missing file, an unreadable
    one and one not TOML, each formatted with `exc` (the error) and `kind` (its type's name)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        which = 2 if isinstance(exc, tomllib.TOMLDecodeError) else int(not isinstance(exc, FileNotFoundError))
        raise UsageError(f"{where}: {messages[which].format(exc=exc, kind=type(exc).__name__)}") from None


def output_path(text: str | None, option: str) -> Path | None:
    """An output path as typed (None where the option was not given); the empty path is refused."""
    if text is None:
        return None
    if not text.strip():
        raise UsageError(f"{option}: the path is empty")
    return Path(text)


def ensure_dir(path: Path) -> Path:
    """Create `path` if needed and check that files can be written in it (UsageError if not)."""
    if not str(path).strip():
        raise UsageError("the output directory path is empty")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {str(path)!r}: {exc.strerror or exc}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"output directory {str(path)!r} is not writable")
    return path


def check_file_target(path: Path, what: str) -> None:
    """UsageError unless a file can be written atomically at `path`: its directory exists and is
    writable, and what is there now (if anything) is a regular file that is not read-only."""
    shown, parent = str(path), path.parent
    if not parent.is_dir():
        raise UsageError(f"{what} {shown!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {shown!r}: directory {str(parent)!r} is not writable")
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{what} {shown!r}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{what} {shown!r} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{what} {shown!r} is not a regular file")
    if not info.st_mode & 0o222 or not os.access(path, os.W_OK):
        raise UsageError(f"{what} {shown!r} is read-only")


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_outputs(outputs: Mapping[str, Path], inputs: Mapping[str, Path] | None = None) -> None:
    """Every output writable, none of them an input, no two the same file (UsageError, one line)."""
    checked: list[tuple[str, Path]] = []
    for what, path in outputs.items():
        check_file_target(path, what)
        for other_what, other in [*checked, *(inputs or {}).items()]:
            if _same(path, other):
                raise UsageError(f"{what} {str(path)!r} is also {other_what}: give it a path of its own")
        checked.append((what, path))


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    return write_all({path: data})[0]


def write_all(files: Mapping[Path, str | bytes]) -> list[Path]:
    """Write files that belong together: each in full to a temporary name, then all renamed into place, so a
    failure while writing leaves every old file as it was (UsageError, one line) and no temporary file."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            staged.append((_stage(path, data), path))
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _cannot_write(path, exc) from None
            _PENDING.discard(tmp)
    finally:
        for tmp, _ in staged:
            if tmp in _PENDING:
                _remove(tmp)
    return list(files)


def _stage(path: Path, data: str | bytes) -> str:
    """`data` in a new temporary file beside `path`, with the mode `path` has (0644 for a new file)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o644
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    _PENDING.add(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, mode)
    except OSError as exc:
        _remove(tmp)
        raise _cannot_write(path, exc) from None
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _cannot_write(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write {str(path)!r}: {exc.strerror or exc}")


def _remove(tmp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    _PENDING.discard(tmp)


def remove_pending() -> None:
    """Remove every temporary file not yet renamed (on the way out of the command line)."""
    for tmp in list(_PENDING):
        _remove(tmp)
