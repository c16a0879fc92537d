"""Masking credentials in URLs, for logs, Redis, status, errors and metrics labels: one masker.

A URL's user info runs from ``scheme://`` to the last ``@`` before its query, fragment or the end
of the word, so a password holding ``@``, ``:`` or ``/`` is masked whole
(``rtsp://admin:hun@ter@cam`` -> ``rtsp://***@cam``). Query (and free-text) parameters are
secret when their name, case-insensitively, is in :data:`SECRET_NAMES`, starts with one of
:data:`SECRET_PREFIXES` or contains one of :data:`SECRET_PARTS` (``p``, ``pin``, ``passwd``,
``loginPass``, ``api_key``, ``sig2``, ``X-Amz-Signature``...). ``${VAR}`` placeholders are not
secrets and are kept; :func:`expand_env` fills them in where a URL is used (credentials reach a
URL through the environment), and every value it filled in is masked wherever it appears later,
in a path or an error message too.
"""

from __future__ import annotations

import re
from typing import Mapping

SECRET_NAMES = frozenset({
    "p", "pw", "pwd", "pas", "pass", "passwd", "passwort", "password", "loginpas", "pin",
    "passcode", "key", "apikey", "sig", "sign", "auth", "jwt", "sid", "psk", "otp",
})
SECRET_PREFIXES = ("pass", "sig", "auth", "token", "secret", "session")
SECRET_PARTS = ("pass", "pwd", "token", "secret", "apikey", "api_key", "api-key", "accesskey",
                "access_key", "privatekey", "private_key", "signature", "credential", "auth",
                "session", "cookie")

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s?#\"'<>]*)@")
_PARAM = re.compile(r"(?<![\w.\[\]-])([\w.\[\]-]+)=([^&#?\s\"'<>;,()]*)")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER = re.compile(f"^({_VARIABLE.pattern})+$")


def is_secret_name(name: str) -> bool:
    """Whether a parameter called ``name`` carries a secret."""
    name = name.lower()
    return (name in SECRET_NAMES or name.startswith(SECRET_PREFIXES)
            or any(part in name for part in SECRET_PARTS))


def _placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value))


def _userinfo_secret(userinfo: str) -> bool:
    """What masking hides: any user info but ``user:${VAR}`` (a user name alone is masked too)."""
    _, colon, password = userinfo.partition(":")
    return not (colon and _placeholder(password))


_expanded: set[str] = set()
"""Values :func:`expand_env` filled in: masked wherever they appear (bounded: see there)."""
MIN_EXPANDED = 8
"""Shorter expanded values are not masked as text: ``${PORT}`` = ``554`` or ``${CAM_USER}`` =
``admin`` is no secret, and masking every ``admin`` would hide more than it protects (a short
password is still masked where the rules above find it: user info, secret parameters)."""


def mask_text(text: str) -> str:
    """Mask every credential in free text (URLs, error messages, log lines)."""
    for value in _expanded:
        if value in text:
            text = text.replace(value, "***")
    text = _USERINFO.sub(lambda m: m.group(0) if not _userinfo_secret(m.group(2))
                         else f"{m.group(1)}***@", text)
    return _PARAM.sub(lambda m: f"{m.group(1)}=***"
                      if is_secret_name(m.group(1)) and m.group(2)
                      and not _placeholder(m.group(2)) else m.group(0), text)


def mask_url(url: str) -> str:
    """``rtsp://user:pw@host/x?token=1`` -> ``rtsp://***@host/x?token=***``; paths are kept."""
    return mask_text(url)


def has_literal_secret(url: str) -> bool:
    """True when a password or secret query value is written out instead of as ``${VAR}``.

    ``rtsp://admin:${CAM_PW}@host`` is fine (a literal user name is allowed);
    ``rtsp://admin:pw@host`` and ``...?pw=abc`` are not.
    """
    for match in _USERINFO.finditer(url):
        _, colon, password = match.group(2).partition(":")
        if colon and not _placeholder(password):
            return True
    return any(is_secret_name(m.group(1)) and m.group(2) and not _placeholder(m.group(2))
               for m in _PARAM.finditer(url))


class UnsetVariableError(ValueError):
    """A ``${VAR}`` whose variable the environment does not set."""

    def __init__(self, name: str):
        super().__init__(f"environment variable {name} (used in the URL) is not set")
        self.name = name


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with each ``${VAR}`` replaced by ``environ[VAR]`` (:class:`UnsetVariableError`
    naming the first variable ``environ`` lacks)."""
    def value(match: re.Match) -> str:
        if match.group(1) not in environ:
            raise UnsetVariableError(match.group(1))
        found = environ[match.group(1)]
        if len(found) >= MIN_EXPANDED and len(_expanded) < 1000:
            _expanded.add(found)
        return found
    return _VARIABLE.sub(value, text)
