"""Test-session set-up: convolution workspaces are calibrated into a cache of this session's own.

The first test that traces a configuration calibrates its convolutions on this machine (real, small
probes); every later trace in the session reads them from that cache, and no user's cache is read or
written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dstt_profile.engine import workspace


@pytest.fixture(scope="session", autouse=True)
def _session_workspace_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("workspaces") / "workspaces.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(workspace.CACHE_ENV, str(path.parent))
        workspace.set_default_cache("cpu", None)
        yield path
        workspace.set_default_cache("cpu", None)
