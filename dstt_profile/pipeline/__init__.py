"""The one pipeline: runs the engine on each configuration, turns its traces into records, and
assembles the `Report` every renderer takes (profile.py); `Sweep` owns derivation across t."""
