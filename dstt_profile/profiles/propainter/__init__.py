"""The ProPainter profile: stages.py (the stage map and headlines), sizes.py (sizes read off a module),
windows.py (the masked windows of a run's masks), formulas.py (symbols, formulas), profile.py (`detect`)."""

from dstt_profile.profiles.propainter.profile import NAME, detect, looks_like_propainter

__all__ = ["NAME", "detect", "looks_like_propainter"]
