"""Masking credentials in camera URLs, for logs, Redis, the dashboard and metrics labels."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SECRET_QUERY = re.compile(r"(?i)((?:password|passwd|pwd|pass|token|key|secret|auth)=)[^&#]*")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def mask_url(url: str) -> str:
    """``rtsp://user:pw@host/x?token=1`` -> ``rtsp://***@host/x?token=***``; paths are kept."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts and parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        url = urlunsplit(parts._replace(netloc=f"***@{host}"))
    return _SECRET_QUERY.sub(r"\1***", url)


def mask_text(text: str) -> str:
    """Mask every URL-with-credentials inside free text (error messages, log lines)."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
