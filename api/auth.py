"""Who may use the routes: everyone when no password is set, else HTTP Basic with the dashboard's
password (any user name: what VLC and Home Assistant send) or a stream token.

A stream token lets the page's own player open the streams without the password in its HTML: it
is an HMAC of its expiry under the password, valid for a day or two and the same all day long (so
a page that redraws keeps the same stream URL).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

DAY = 86_400
MAX_TOKEN = 64
"""Longest stream token looked at: ``<expiry>.<32 hex digits>`` is 43 characters."""
CHALLENGE = {"WWW-Authenticate": 'Basic realm="cctv", charset="UTF-8"'}
"""Headers of a 401 answer: they make players and browsers ask for the password."""


def password_ok(password: str | None, given: str) -> bool:
    """Constant-time comparison with the configured password (False when none is set)."""
    return password is not None and hmac.compare_digest(given.encode(), password.encode())


def _signature(password: str, expires: int) -> str:
    return hmac.new(password.encode(), f"cctv-stream:{expires}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def stream_token(password: str, now: float | None = None) -> str:
    """A token valid until the end of the day after ``now``."""
    expires = (int((time.time() if now is None else now) // DAY) + 2) * DAY
    return f"{expires}.{_signature(password, expires)}"


def token_ok(password: str, token: str, now: float | None = None) -> bool:
    """True for an unexpired token made with ``password`` (False for anything longer than a
    token or not ASCII, before any parsing or comparison)."""
    if len(token) > MAX_TOKEN or not token.isascii():
        return False
    expires, _, signature = token.partition(".")
    if not expires.isdigit() or int(expires) <= (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _signature(password, int(expires)))


def basic_password(header: str | None) -> str | None:
    """The password of an ``Authorization: Basic ...`` header (None when absent or malformed)."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return None


def authorized(password: str | None, header: str | None, token: str | None) -> bool:
    """May a request with this Authorization ``header`` and ``token`` parameter go on?"""
    if password is None:
        return True
    given = basic_password(header)
    if given is not None:
        return password_ok(password, given)
    return token is not None and token_ok(password, token)
