"""Strict pydantic models and their one-line errors: the base of every schema read from files,
the environment or Redis (``extra="forbid"``: a typo is an error, not a silent default).
"""

from __future__ import annotations

from typing import Annotated, Callable

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictFloat, ValidationError


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


Number = StrictFloat
"""A float as JSON Schema's ``number`` says: an int is one, ``true`` and ``"5"`` are not
(pydantic's lax mode takes them), so what the OpenAPI document promises is what is accepted."""


def _not_bool_or_text(value: object) -> object:
    if isinstance(value, (bool, str, bytes)):
        raise ValueError(f"Input should be a valid integer, not {type(value).__name__}")
    return value


Integer = Annotated[int, BeforeValidator(_not_bool_or_text)]
"""An int as JSON Schema's ``integer`` says: ``19.0`` is one, ``true`` and ``"19"`` are not.
(Not for ``Integer | None``: pydantic would write its bounds into the OpenAPI document as ``ge``
and ``le``, which JSON Schema does not know.)"""
