"""The query parameters of :mod:`api.rest` as pydantic models: they validate each request and give
the OpenAPI document its parameters (:func:`query_parameters`), so the two cannot disagree."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, ValidationError,
                      ValidationInfo, field_validator, model_validator)
from starlette.requests import Request

from common.cameras import CAMERA_NAME_PATTERN
from common.events import EVENT_ID_PATTERN

MAX_LIMIT = 500
MAX_NAME = 64
"""Longest class or zone name a filter may give."""
CURSOR_PATTERN = r"^-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?~" + EVENT_ID_PATTERN[1:]
"""``"<start_ts>~<event id>"``, as the previous page's ``cursor`` gives it."""


Q = TypeVar("Q", bound="QueryModel")


class ParameterError(ValueError):
    """A query that breaks its model: the reason names the parameter."""


def parse_time(name: str, raw: object) -> float | None:
    """Unix seconds or ISO 8601 (``2026-11-29T14:05:00Z``) -> Unix seconds."""
    if raw is None or isinstance(raw, float):
        return raw
    text = str(raw)
    try:
        value = float(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            raise ValueError(f"{name} is neither Unix seconds nor an ISO 8601 date: "
                             f"{text[:40]!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite")
    return value


class QueryModel(BaseModel):
    """Query parameters; others (the stream ``token``) are left to whoever reads them."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class EventsQuery(QueryModel):
    """The filters and page of ``GET /api/events``."""

    camera: str | None = Field(None, pattern=CAMERA_NAME_PATTERN, description="Only this camera.")
    label: str | None = Field(None, min_length=1, max_length=MAX_NAME,
                              description="Only this class.")
    zone: str | None = Field(None, min_length=1, max_length=MAX_NAME,
                             description="Only events that entered it.")
    after: float | AwareDatetime | None = Field(
        None, description="Started at or after (Unix seconds or ISO 8601); earlier than before.")
    before: float | AwareDatetime | None = Field(
        None, description="Started before (Unix seconds or ISO 8601); later than after.")
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Page size.")
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN,
                               description="The previous page's cursor.")

    @field_validator("after", "before", mode="before")
    @classmethod
    def _unix_seconds(cls, raw: object, info: ValidationInfo) -> float | None:
        return parse_time(info.field_name or "time", raw)

    @field_validator("limit", mode="before")
    @classmethod
    def _whole_limit(cls, raw: object) -> int:
        text = str(raw)
        if not (text.isascii() and text.isdigit() and len(text) <= 3
                and 1 <= int(text) <= MAX_LIMIT):
            raise ValueError(f"limit must be a whole number within 1..{MAX_LIMIT}, "
                             f"not {text[:20]!r}")
        return int(text)

    @field_validator("cursor", mode="before")
    @classmethod
    def _cursor(cls, raw: object) -> object:
        if isinstance(raw, str) and not _full_match(CURSOR_PATTERN, raw):
            raise ValueError("bad cursor: cursor is not one this API gave")
        return raw

    @model_validator(mode="after")
    def _ordered(self) -> EventsQuery:
        if self.after is not None and self.before is not None and self.after >= self.before:
            raise ValueError("after must be earlier than before")
        return self


class SnapshotQuery(QueryModel):
    """``GET /api/events/{id}/snapshot.jpg``: the whole frame, or the box only."""

    crop: Literal[0, 1] = Field(0, description="1: the box only.")

    @field_validator("crop", mode="before")
    @classmethod
    def _zero_or_one(cls, raw: object) -> int:
        if str(raw) not in ("0", "1"):
            raise ValueError(f"crop must be 0 or 1, not {str(raw)[:20]!r}")
        return int(str(raw))


MAX_RANGE_S = 3600
"""Longest range of one recordings request (video or objects)."""


class RecordingsQuery(QueryModel):
    """``GET /api/recordings``: a camera's segments overlapping a time range."""

    camera: str = Field(pattern=CAMERA_NAME_PATTERN, description="The camera.")
    after: float | AwareDatetime | None = Field(
        None, description="Ending after (Unix seconds or ISO 8601); earlier than before.")
    before: float | AwareDatetime | None = Field(
        None, description="Starting before (Unix seconds or ISO 8601); later than after.")

    @field_validator("after", "before", mode="before")
    @classmethod
    def _unix_seconds(cls, raw: object, info: ValidationInfo) -> float | None:
        return parse_time(info.field_name or "time", raw)

    @model_validator(mode="after")
    def _ordered(self) -> RecordingsQuery:
        if self.after is not None and self.before is not None and self.after >= self.before:
            raise ValueError("after must be earlier than before")
        return self


class RangeQuery(QueryModel):
    """``GET /api/recordings/{camera}/video.mp4`` and ``.../objects``: a range of at most
    :data:`MAX_RANGE_S`."""

    start: float | AwareDatetime = Field(description="From (Unix seconds or ISO 8601).")
    end: float | AwareDatetime = Field(
        description=f"To (Unix seconds or ISO 8601): later than start, by at most {MAX_RANGE_S} s.")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _unix_seconds(cls, raw: object, info: ValidationInfo) -> float | None:
        return parse_time(info.field_name or "time", raw)

    @model_validator(mode="after")
    def _short(self) -> RangeQuery:
        if not 0 < self.end - self.start <= MAX_RANGE_S:  # type: ignore[operator]
            raise ValueError(f"end must be later than start, by at most {MAX_RANGE_S} s")
        return self


def _full_match(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text) is not None


def parse_query(model: type[Q], request: Request) -> Q:
    """The request's query as ``model`` (:class:`ParameterError` naming the parameter)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "value_error":
            raise ParameterError(str(first["ctx"]["error"])) from None
        where = ".".join(str(part) for part in first["loc"]) or "query"
        raise ParameterError(f"{where}: {first['msg']}") from None


def query_parameters(model: type[QueryModel]) -> list[dict[str, Any]]:
    """The OpenAPI ``parameters`` (``in: query``) of ``model``'s fields."""
    schema = model.model_json_schema()
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", "")
        field.pop("title", None)
        parameters.append({"name": name, "in": "query",
                           "required": name in schema.get("required", ()),
                           "description": description, "schema": _without_null(field)})
    return parameters


def _without_null(field: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter is absent, never null: drop ``null`` from its ``anyOf``."""
    if field.get("default", 0) is None:
        field = {k: v for k, v in field.items() if k != "default"}
    options = [o for o in field.get("anyOf", []) if o != {"type": "null"}]
    if not options:
        return field
    rest = {k: v for k, v in field.items() if k != "anyOf"}
    return rest | (options[0] if len(options) == 1 else {"anyOf": options})
