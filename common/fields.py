"""Stream and hash fields as the protocol carries them: flat UTF-8 strings (bytes or str, as
redis-py returns them), decoded into checked values; :class:`MessageError` says in one line what
is malformed. The schemas are :mod:`common.messages` (frames, detections), :mod:`common.tracks`
(tracked frames) and :mod:`common.records` (state, heartbeats, dead letters, outages); nothing is
ever pickled (see docs/protocol.md).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

PROTOCOL_VERSION = "1"

Fields = Mapping[Any, Any]


class MessageError(ValueError):
    """A stream entry or hash that does not follow the protocol."""


def field_text(fields: Fields, name: str, default: str | None = None) -> str:
    value = fields.get(name, fields.get(name.encode()))
    if value is None:
        if default is not None:
            return default
        raise MessageError(f"missing field {name!r}")
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError as exc:
            raise MessageError(f"field {name!r} is not UTF-8") from exc
    return str(value)


def field_int(fields: Fields, name: str, default: int | None = None) -> int:
    raw = field_text(fields, name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise MessageError(f"field {name!r} is not an integer: {raw[:40]!r}") from exc


def field_float(fields: Fields, name: str, default: float | None = None) -> float:
    raw = field_text(fields, name, None if default is None else repr(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise MessageError(f"field {name!r} is not a number: {raw[:40]!r}") from exc
    if not math.isfinite(value):
        raise MessageError(f"field {name!r} is not finite: {raw!r}")
    return value


STREAM_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


def field_frame_id(fields: Fields) -> str:
    """A frame id: a stream entry id ``<ms>-<seq>``."""
    frame_id = field_text(fields, "frame_id")
    if not STREAM_ID.match(frame_id):
        raise MessageError(f"field 'frame_id' is not a stream id (ms-seq): {frame_id[:40]!r}")
    return frame_id


def field_seq(fields: Fields) -> int:
    """A frame's index in its source: 0 or more."""
    seq = field_int(fields, "seq")
    if seq < 0:
        raise MessageError(f"field 'seq' is negative: {seq}")
    return seq


def field_size(fields: Fields) -> tuple[int, int]:
    """(width, height), both positive."""
    width, height = field_int(fields, "width"), field_int(fields, "height")
    if width <= 0 or height <= 0:
        raise MessageError(f"bad frame size {width}x{height}")
    return width, height


def field_json(fields: Fields, name: str) -> Any:
    raw = field_text(fields, name)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MessageError(f"field {name!r} is not JSON: {exc.msg}") from exc


def payload_fields(payload: str | bytes, structured: tuple[str, ...]) -> dict[str, Any]:
    """A pub/sub JSON payload as stream fields: the ``structured`` values back as JSON text."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise MessageError(f"payload is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise MessageError("payload is not a JSON object")
    return {**data, **{name: json.dumps(data.get(name)) for name in structured}}


def check_version(fields: Fields) -> None:
    version = field_text(fields, "v")
    if version != PROTOCOL_VERSION:
        raise MessageError(f"unsupported protocol version {version!r} (want {PROTOCOL_VERSION})")
