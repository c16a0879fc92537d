"""Events: one record per object the tracker counted, with its files' names.

An :class:`Event` is the contract (docs/protocol.md#events); :meth:`Event.to_dict` is the API's
shape, :meth:`Event.to_json` the stored record (it adds the box path and the file names).
Where records are kept is :mod:`runtime.event_store`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .fields import MessageError, load_json

EVENT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,120}$"
MEDIA_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,120}(/[A-Za-z0-9_.-]{1,120}){0,3}$"
"""A media file named by a record: relative, a few folders deep (``lobby/2026-12-06/id.jpg``)."""
RETIRED_FIELD = "clip_complete"
"""A field of records whose clip the tracker encoded (false: frames were trimmed first); read
and dropped."""


def event_id(camera: str, track_id: int, start_ts: float) -> str:
    """A camera's object's id: unique across cameras and restarts (``lobby.1717000000123.42``)."""
    return f"{camera}.{int(start_ts * 1000)}.{track_id}"


@dataclass(frozen=True)
class EventCrossing:
    """A line the event's object crossed and which way (``in`` or ``out``); the tracked frame's
    crossing is :class:`common.tracks.Crossing`."""

    name: str
    direction: str


@dataclass
class Event:
    """One object's event: open while ``end_ts`` is None."""

    id: str
    camera: str
    label: str
    start_ts: float
    end_ts: float | None = None
    top_score: float = 0.0
    zones: list[str] = field(default_factory=list)
    lines: list[EventCrossing] = field(default_factory=list)
    path: list[tuple[float, float, float]] = field(default_factory=list)
    """``(ts, x, y)`` of the anchor, x and y as fractions of the frame, a few a second."""
    snapshot: str | None = None
    """Full frame JPEG with the box, relative to the media folder (the crop is ``-crop.jpg``);
    named only once both files are written."""
    clip: str | None = None
    """The event's MP4: with ``recorded_clip``, the name of its copy cut on request."""
    recorded_clip: list[float] | None = None
    """``[from_ts, to_ts]`` (Unix seconds) of the camera's recording that is the clip, cut on
    request into ``clip``; there is a clip while the recording covers the range."""
    track_id: int = 0
    last_ts: float = 0.0
    """Capture time the object was last seen (as of the record's last write)."""
    media_errors: dict[str, str] = field(default_factory=dict)
    """Why a file the event should have is missing, by kind (``snapshot``, ``clip``)."""

    @property
    def crop(self) -> str | None:
        """The crop JPEG beside the snapshot."""
        return self.snapshot[:-len(".jpg")] + "-crop.jpg" if self.snapshot else None

    def files(self) -> list[str]:
        """The event's file names, relative to the media folder."""
        return [name for name in (self.snapshot, self.crop, self.clip) if name]

    def to_dict(self) -> dict[str, Any]:
        """The API's EVENT (a contract: keys are only ever added)."""
        return {"id": self.id, "camera": self.camera, "label": self.label,
                "start_ts": self.start_ts, "end_ts": self.end_ts, "top_score": self.top_score,
                "zones": list(self.zones),
                "lines": [{"name": c.name, "direction": c.direction} for c in self.lines],
                "has_snapshot": self.snapshot is not None, "has_clip": self.clip is not None}

    def to_json(self) -> str:
        """The stored record."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        """Parse a stored record (MessageError when it is not one)."""
        try:
            data = load_json(raw, what="event record")
            data.pop(RETIRED_FIELD, None)
            data["lines"] = [EventCrossing(**c) for c in data.get("lines", [])]
            data["path"] = [tuple(p) for p in data.get("path", [])]
            event = cls(**data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MessageError(f"not an event record: {exc}") from exc
        if not isinstance(event.id, str) or not re.match(EVENT_ID_PATTERN, event.id):
            raise MessageError(f"bad event id {str(event.id)[:40]!r}")
        if not isinstance(event.media_errors, dict) or not all(
                isinstance(v, str) for v in event.media_errors.values()):
            raise MessageError(f"event {event.id}: media_errors is not an object of texts")
        for name in (event.snapshot, event.clip):
            if name is not None and not is_media_name(name):
                raise MessageError(f"event {event.id}: media name {str(name)[:60]!r} is not a "
                                   "relative name under the media folder")
        return event


def is_media_name(name: object) -> bool:
    """Whether ``name`` is one a record may name: relative, no ``..``, no odd characters."""
    return (isinstance(name, str) and re.match(MEDIA_NAME_PATTERN, name) is not None
            and ".." not in name.split("/"))
