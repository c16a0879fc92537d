"""Stream and hash fields as the protocol carries them: flat UTF-8 strings (bytes or str, as
redis-py returns them), decoded into checked values; :class:`MessageError` says in one line what
is malformed. JSON goes through :func:`load_json`, bounded in size and depth; numbers through
checks of their range (timestamps, sequence numbers, boxes, list lengths). The schemas are
:mod:`common.messages` (frames, detections), :mod:`common.tracks` (tracked frames) and
:mod:`common.records` (state, heartbeats, dead letters, outages); nothing is ever pickled (see
docs/protocol.md).
"""

from __future__ import annotations

import json
import math
import re
import time
from itertools import accumulate
from typing import Any, Mapping, Sequence

PROTOCOL_VERSION = "1"

Fields = Mapping[Any, Any]

MAX_JSON_BYTES = 1 << 20
"""The largest JSON field, payload or record decoded: 1 MiB (1000 boxes take about 100 kB)."""
MAX_JSON_DEPTH = 32
"""The deepest JSON nesting decoded (the deepest the protocol writes is 5, a tracker snapshot)."""
MAX_BOXES = 1000
"""Boxes (detections, tracks, motion regions) and other items per frame: the detector keeps at
most ``max_detections`` (100) per image."""
MAX_SEQ = 2**53
"""Sequence numbers are below 2**53, so they survive a JSON reader that holds numbers as doubles."""
MAX_COORDINATE = 1e6
"""The largest box coordinate, in pixels either side of the frame's origin."""
FUTURE_TS_S = 86400.0
"""How far after ``now`` a timestamp may be (clocks of different machines disagree)."""


class MessageError(ValueError):
    """A stream entry or hash that does not follow the protocol."""


def text(value: bytes | str) -> str:
    """A key, id or name as redis-py returns it (bytes, or str from a decoding client) as str;
    bytes that are not UTF-8 come out with U+FFFD in their place (no name pattern admits it, so
    such a name is refused where it is checked, not a UnicodeDecodeError in a service loop)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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
    return check_seq(seq, "field 'seq'")


def field_size(fields: Fields) -> tuple[int, int]:
    """(width, height), both positive."""
    width, height = field_int(fields, "width"), field_int(fields, "height")
    if width <= 0 or height <= 0:
        raise MessageError(f"bad frame size {width}x{height}")
    return width, height


def field_ts(fields: Fields, name: str, default: float | None = None,
             now: float | None = None) -> float:
    """A timestamp field (Unix seconds), checked by :func:`check_ts`."""
    return check_ts(field_float(fields, name, default), f"field {name!r}", now)


def field_json(fields: Fields, name: str) -> Any:
    return load_json(field_text(fields, name), what=f"field {name!r}")


STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """The deepest bracket nesting of JSON ``text``, outside strings, found without recursion.

    On text that is not JSON it is at least the depth a JSON parser reaches before it fails."""
    brackets = BRACKET.findall(STRING_LITERAL.sub("", text))
    return max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def load_json(raw: str | bytes, *, what: str, max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON read from Redis, or raise MessageError("<what>: <reason>"): at most
    ``max_bytes`` long and ``max_depth`` deep (checked before parsing, so no nesting can exhaust
    the stack), without NaN or Infinity."""
    if not isinstance(raw, (str, bytes)):
        raise MessageError(f"{what}: not JSON text but {type(raw).__name__}")
    if len(raw) > max_bytes:
        raise MessageError(f"{what}: {len(raw)} bytes, over the {max_bytes} byte limit")
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise MessageError(f"{what}: not UTF-8") from exc
    if text.count("[") + text.count("{") > max_depth and (depth := json_depth(text)) > max_depth:
        raise MessageError(f"{what}: nested {depth} deep, over the {max_depth} level limit")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise MessageError(f"{what}: not JSON: {exc.msg}") from exc
    except ValueError as exc:  # NaN or Infinity; an integer of over 4300 digits
        raise MessageError(f"{what}: {exc}") from exc


def check_ts(value: float, what: str, now: float | None = None) -> float:
    """A finite Unix time from the epoch to a day after ``now`` (default: the clock's)."""
    latest = (time.time() if now is None else now) + FUTURE_TS_S
    if not (math.isfinite(value) and 0.0 <= value <= latest):
        raise MessageError(f"{what}: timestamp {value!r} is not between 0 and {latest:.0f}")
    return value


def check_seq(value: int, what: str) -> int:
    """A sequence number: 0 <= value < :data:`MAX_SEQ`."""
    if not 0 <= value < MAX_SEQ:
        raise MessageError(f"{what}: {value} is not in [0, 2**53)")
    return value


def check_box(values: Sequence[float], what: str) -> tuple[float, float, float, float]:
    """A box (x1, y1, x2, y2) of finite pixel coordinates within :data:`MAX_COORDINATE`."""
    if len(values) != 4:
        raise MessageError(f"{what}: a box needs 4 numbers, got {len(values)}")
    if not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in values):
        raise MessageError(f"{what}: box coordinates must be finite numbers within "
                           f"{MAX_COORDINATE:g} px")
    x1, y1, x2, y2 = values
    return x1, y1, x2, y2


def check_items(value: Any, what: str, kind: type = list, max_items: int = MAX_BOXES) -> Any:
    """A JSON list (or, with ``kind`` dict, object) of at most ``max_items`` items."""
    if not isinstance(value, kind):
        raise MessageError(f"{what}: not a JSON {'object' if kind is dict else 'list'}")
    if len(value) > max_items:
        raise MessageError(f"{what}: {len(value)} items, over the {max_items} item limit")
    return value


def payload_fields(payload: str | bytes, structured: tuple[str, ...]) -> dict[str, Any]:
    """A pub/sub JSON payload as stream fields: the ``structured`` values back as JSON text."""
    data = load_json(payload, what="payload")
    if not isinstance(data, dict):
        raise MessageError("payload is not a JSON object")
    return {**data, **{name: json.dumps(data.get(name)) for name in structured}}


def check_version(fields: Fields) -> None:
    version = field_text(fields, "v")
    if version != PROTOCOL_VERSION:
        raise MessageError(f"unsupported protocol version {version!r} (want {PROTOCOL_VERSION})")
