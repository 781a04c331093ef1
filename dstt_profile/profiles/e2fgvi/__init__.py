"""The E2FGVI profile: stages.py (the stage map and headlines), sizes.py (size arithmetic read off a module,
shared with the ProPainter profile), formulas.py (sizes, symbols, formulas), profile.py (`detect`)."""

from dstt_profile.profiles.e2fgvi.profile import NAME, detect, looks_like_e2fgvi

__all__ = ["NAME", "detect", "looks_like_e2fgvi"]
