"""Small, explainable cues read from a message's words where no entity carries them."""

from __future__ import annotations

import datetime as dt
import re

_CONTACT_CUES = [
    ("email", re.compile(r"\be-?mail\b", re.I)),
    ("phone", re.compile(r"\b(phone|call|number|telephone|toll.?free|hours|contact center)\b", re.I)),
    (
        "portal",
        re.compile(r"\b(portal|website|web site|web address|address|online|url|link|availity|providerportal)\b", re.I),
    ),
]
_DATE_RE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b|\b(\d{4})-(\d{2})-(\d{2})\b")


_ADDRESS_RE = re.compile(r"\b(address|url|link|website|web site|web address|where do i go|log ?in page)\b", re.I)


def asks_for_address(text: str) -> bool:
    """Whether the message asks where something is (an address or link), not what it does."""
    return bool(_ADDRESS_RE.search(text or ""))


def contact_kind(text: str) -> str | None:
    """Which kind of contact route the message asks for, if it says."""
    for kind, pattern in _CONTACT_CUES:
        if pattern.search(text or ""):
            return kind
    return None


def first_date(text: str) -> dt.date | None:
    """The first US (m/d/yyyy) or ISO date in a message, if any."""
    match = _DATE_RE.search(text or "")
    if not match:
        return None
    try:
        if match.group(1):
            year = int(match.group(3))
            year += 2000 if year < 100 else 0
            return dt.date(year, int(match.group(1)), int(match.group(2)))
        return dt.date(int(match.group(4)), int(match.group(5)), int(match.group(6)))
    except ValueError:
        return None
