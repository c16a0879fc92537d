"""A subcommand's failure as an exit status and one line: 2 for usage (settings, arguments, model
specs), 1 at run time (Redis unreachable, refused or erring, files, a cameras file that
``cctv config check`` rejects); None for an exception of no known kind (a bug: its traceback is
shown)."""

from __future__ import annotations

import sys

import redis

from common.schema import SettingsError
from runtime.settings import CommonSettings, from_env


class InvalidFile(Exception):
    """A cameras file that ``cctv config check`` rejects, found by another subcommand (exit 1,
    as that command's)."""


def explain(exc: Exception) -> tuple[int | None, str]:
    """(exit status, one-line reason) of a subcommand's failure; None for an unknown kind."""
    if isinstance(exc, InvalidFile):
        return 1, str(exc)
    loaded = sys.modules.get("detector.errors")  # raised only once loaded: torch stays unloaded
    if isinstance(exc, SettingsError) or loaded and isinstance(exc, loaded.DetectorError):
        return 2, str(exc)
    if isinstance(exc, redis.AuthenticationError):
        return 1, f"Redis at {redis_address_or_url()} refused the credentials: {exc}"
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError,
                        redis.exceptions.RedisClusterException)):  # no cluster node answers
        return 1, f"Redis unreachable at {redis_address_or_url()}: {exc}"
    if isinstance(exc, redis.ResponseError):
        return 1, f"Redis at {redis_address_or_url()} answered: {exc}"
    if isinstance(exc, OSError):
        return 1, f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    return None, f"{type(exc).__name__}: {exc} (a bug: please report it)"


def redis_address_or_url() -> str:
    """Where the settings point, without credentials (``REDIS_URL`` when they are invalid)."""
    from runtime.redis_conn import redis_address

    try:
        return redis_address(from_env(CommonSettings))
    except SettingsError:
        return "REDIS_URL"
