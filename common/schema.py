"""Strict pydantic models and their one-line errors: the base of every schema read from files,
the environment or Redis (``extra="forbid"``: a typo is an error, not a silent default).
"""

from __future__ import annotations

from typing import Callable

from pydantic import BaseModel, ConfigDict, ValidationError


class SettingsError(ValueError):
    """Invalid settings or cameras file; the message is ready to show to a user."""


def describe_errors(exc: ValidationError, source: str, name: Callable[[str], str] = str) -> str:
    """One line per problem: ``source: cameras.0.fpz: unknown key``; ``name`` renames a key."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = name(where) if len(err["loc"]) == 1 else where
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {msg}")
    return "\n".join(lines)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
