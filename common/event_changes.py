"""Event changes as the tracker appends them to ``cctv:event-updates``: one entry per change of
an event (``new``, ``update``, ``end``), read by the webhooks sender and the MQTT bridge (fields:
:mod:`common.fields`; the lifecycle: docs/tracking.md#events).

Fields: ``v``, ``type`` (the :class:`ChangeKind`), ``id`` and ``camera`` (the event's), and
``event``: the API's EVENT as JSON (:meth:`common.events.Event.to_dict`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .events import EVENT_ID_PATTERN, Event
from .fields import PROTOCOL_VERSION, Fields, MessageError, check_version, field_json, field_text


class ChangeKind(StrEnum):
    """What happened to an event: it began, it changed (a zone entered, a line crossed, a better
    snapshot), it ended."""

    NEW = "new"
    UPDATE = "update"
    END = "end"


@dataclass(frozen=True)
class EventChange:
    """One ``cctv:event-updates`` entry: a ``kind`` of change to ``event``.

    ``event`` is the API's EVENT as the tracker wrote it: its ``id``, ``camera``, ``label``,
    ``start_ts`` and ``zones`` are checked on read, its other keys passed on as they are (keys
    are only ever added, so a newer tracker's are kept).
    """

    kind: ChangeKind
    event: dict[str, Any]

    @classmethod
    def of(cls, kind: ChangeKind | str, event: Event) -> EventChange:
        """The change of a tracked event (``kind`` as a ChangeKind or its wire value)."""
        return cls(ChangeKind(kind), event.to_dict())

    @property
    def event_id(self) -> str:
        return self.event["id"]

    @property
    def camera(self) -> str:
        return self.event["camera"]

    @property
    def label(self) -> str:
        return self.event["label"]

    @property
    def start_ts(self) -> float:
        return float(self.event["start_ts"])

    @property
    def zones(self) -> list[str]:
        """The zones the object entered so far."""
        return self.event.get("zones", [])

    def to_fields(self) -> dict[str, str]:
        return {"v": PROTOCOL_VERSION, "type": self.kind.value, "id": self.event_id,
                "camera": self.camera, "event": json.dumps(self.event)}

    @classmethod
    def from_fields(cls, fields: Fields) -> EventChange:
        check_version(fields)
        kind_text = field_text(fields, "type")
        try:
            kind = ChangeKind(kind_text)
        except ValueError:
            raise MessageError(f"unknown change type {kind_text[:20]!r}") from None
        event = _event(fields)
        if (event["id"], event["camera"]) != (field_text(fields, "id"),
                                              field_text(fields, "camera")):
            raise MessageError("fields 'id' and 'camera' are not the event's")
        return cls(kind, event)


def _event(fields: Fields) -> dict[str, Any]:
    """The ``event`` field: a JSON object whose keys that consumers read are checked."""
    event = field_json(fields, "event")
    if not isinstance(event, dict):
        raise MessageError("field 'event' is not a JSON object")
    for name in ("id", "camera", "label"):
        if not isinstance(event.get(name), str):
            raise MessageError(f"event {name!r} is not a string")
    if not re.match(EVENT_ID_PATTERN, event["id"]):
        raise MessageError(f"bad event id {event['id'][:40]!r}")
    start_ts = event.get("start_ts")
    if isinstance(start_ts, bool) or not isinstance(start_ts, (int, float)) \
            or not math.isfinite(start_ts):
        raise MessageError(f"event 'start_ts' is not a finite number: {str(start_ts)[:40]}")
    zones = event.get("zones", [])
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise MessageError("event 'zones' is not a list of names")
    return event
