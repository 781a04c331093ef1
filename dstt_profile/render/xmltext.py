"""Text made safe for XML 1.0: every string that reaches an XML file passes here."""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 forbids replaced by U+FFFD (escaping & < > is the writer's job)."""
    return _FORBIDDEN.sub(REPLACEMENT, text)
