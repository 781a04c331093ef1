"""OpenVINO as a second runtime for the main job's runs (`--runtime openvino`, docs/openvino.md): each run's
network converted to an IR (convert.py), its stages set beside PyTorch's (compare.py), and with --measure run
by OpenVINO in a process of its own (measure.py, child.py). OpenVINO is an optional extra: it is imported
here only, and only when a run asks for it."""

from __future__ import annotations

import importlib
from typing import Any

from dstt_profile.errors import UsageError

INSTALL = "pip install 'dstt-profile[openvino]'"


def load() -> Any:
    """The `openvino` module; UsageError (one line: how to install it) where it cannot be imported."""
    try:
        return importlib.import_module("openvino")
    except (ImportError, OSError):
        raise UsageError(f"--runtime openvino needs OpenVINO, which is not installed here: {INSTALL}") from None
