"""Passwords never printed: URLs (``DATABASE_URL``, ``REDIS_URL``) shown with their password masked.

Used wherever a URL or a message that may contain one reaches a terminal or a log: ``calsync config``,
``calsync demo``, worker and scheduler errors.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@host... ; the password runs to the last "@" before the host (an unescaped "@" in a
# password is not valid in a URL, but people write them, so mask up to the last one).
_CREDENTIALS = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):(?P<password>[^\s/]*)@(?=[^\s@/]*(?:[/?#\s]|$))"
)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|pass|pwd)=)[^&#\s]*", re.IGNORECASE)


def mask_url(text: str) -> str:
    """``text`` (a URL, or a message with URLs in it) with every URL password replaced by ``***``."""
    masked = _CREDENTIALS.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", masked)
