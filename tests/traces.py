"""One cache of fake-tensor traces for the whole test run, keyed by RunConfig.

A trace costs about a second and many test files ask for the same configurations (t = 14 at 240x432
above all), so each configuration is traced once per session and every test reads it from here.
`profiled(config, keep_ops)` is what `api.profile_run(config, keep_ops)` returns, built from the shared
trace. Real-tensor runs are never cached (each test that asks for one runs it).
"""

from __future__ import annotations

from functools import cache

from dstt_profile.analysis.summarize import summarize
from dstt_profile.api import finish_record, profile_run
from dstt_profile.engine.polytrace import TRACED
from dstt_profile.engine.trace import Trace, trace
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord

T14 = RunConfig(frames=14)  # the main job's configuration: t = 14, 240x432, float32, matmul


@cache
def traced(config: RunConfig) -> Trace:
    """The fake-tensor trace of `config`, made once per test session."""
    assert not config.real, "real runs are not cached"
    return trace(config)


def profiled(config: RunConfig, keep_ops: bool = True) -> RunRecord:
    """`api.profile_run(config, keep_ops=keep_ops)`, from the shared trace (real runs: run each time)."""
    if config.real:
        return profile_run(config, keep_ops=keep_ops)
    return _summarized(config, keep_ops)


@cache
def _summarized(config: RunConfig, keep_ops: bool) -> RunRecord:
    return finish_record(summarize(traced(config), keep_ops=keep_ops), config, False, TRACED)


def result(*configs: RunConfig, keep_ops: bool = True) -> Result:
    """A Result of `configs`, each from the shared traces."""
    return Result(tuple(profiled(c, keep_ops) for c in configs))
