"""dstt-profile: memory and operation analysis of DSTT, the Decoupled Spatial-Temporal Transformer.

For any clip length t, resolution and dtype: the tensor each stage makes, its FLOPs and bytes, the
peak activation memory and where it is, each checked against docs/architecture.md's closed-form formulas.
"""

from __future__ import annotations

from dstt_profile.api import Profile, max_frames, profile, run_config, sweep
from dstt_profile.records.report import Report
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord

__all__ = ["Profile", "Report", "Result", "RunConfig", "RunRecord", "max_frames", "profile", "run_config", "sweep"]
__version__ = "0.1.0"
