"""dstt-profile: memory and operation analysis of DSTT, the Decoupled Spatial-Temporal Transformer.

For any clip length t, resolution and dtype: the tensor each stage makes, its FLOPs and bytes, the
peak activation memory and where it is, each checked against docs/architecture.md's closed-form formulas.
"""

from __future__ import annotations

from dstt_profile.api import Profile, profile, run_config, sweep
from dstt_profile.records.runconfig import RunConfig
from dstt_profile.records.schema import Result, RunRecord

__all__ = ["Profile", "Result", "RunConfig", "RunRecord", "profile", "run_config", "sweep"]
__version__ = "0.1.0"
