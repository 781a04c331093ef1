"""dstt-profile: exact memory and FLOP analysis of DSTT, the Decoupled Spatial-Temporal Transformer, and of
any nn.Module, at any clip length t, resolution and dtype."""

from __future__ import annotations

from dstt_profile.api import Profile, max_frames, profile, run_config, sweep
from dstt_profile.records.report import Report
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord

__all__ = ["Profile", "Report", "Result", "RunConfig", "RunRecord", "max_frames", "profile", "run_config", "sweep"]
__version__ = "0.1.0"
