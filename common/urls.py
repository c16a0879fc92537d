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


_PLACEHOLDER = re.compile(r"^(\$\{[A-Za-z_][A-Za-z0-9_]*\})+$")


def has_literal_secret(url: str) -> bool:
    """True when a password or secret query value is written out instead of as ``${VAR}``.

    ``rtsp://admin:${CAM_PW}@host`` is fine (a literal user name is allowed);
    ``rtsp://admin:pw@host`` and ``...?token=abc`` are not.
    """
    secrets = [m.group(0).split("=", 1)[1] for m in _SECRET_QUERY.finditer(url)]
    try:
        netloc = urlsplit(url).netloc if "://" in url else ""
    except ValueError:
        netloc = ""
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0].split(":", 1)
        secrets.append(userinfo[-1])
    return any(not _PLACEHOLDER.match(s) for s in secrets)
