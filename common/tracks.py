"""Tracked frames as the tracker writes them to ``cctv:tracks:{camera}`` and publishes them: the
objects that count with their ids, line crossings, zone occupancy, ended stays in zones."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .fields import (PROTOCOL_VERSION, Fields, MessageError, check_items, check_version,
                     field_frame_id, field_json, field_seq, field_size, field_text, field_ts,
                     payload_fields)
from .messages import DetectedObject


@dataclass(frozen=True)
class TrackedObject:
    """One tracked box: stable ``track_id`` per camera, class, score, box (x1, y1, x2, y2) px."""

    track_id: int
    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.track_id, **DetectedObject(self.label, self.class_id, self.score,
                                                      self.box).to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> "TrackedObject":
        obj = DetectedObject.from_dict(data)
        try:
            return cls(int(data["id"]), obj.label, obj.class_id, obj.score, obj.box)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise MessageError(f"bad track {str(data)[:80]}: {exc}") from exc


@dataclass(frozen=True)
class Crossing:
    """A track crossing a counting line; ``direction`` is ``in`` or ``out``."""

    line: str
    direction: str
    label: str
    track_id: int

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "direction": self.direction, "label": self.label,
                "id": self.track_id}

    @classmethod
    def from_dict(cls, data: Any) -> "Crossing":
        try:
            crossing = cls(str(data["line"]), str(data["direction"]), str(data["label"]),
                           int(data["id"]))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise MessageError(f"bad crossing {str(data)[:80]}: {exc}") from exc
        if crossing.direction not in ("in", "out"):
            raise MessageError(f"bad crossing direction {crossing.direction!r}")
        return crossing


@dataclass(frozen=True)
class Stay:
    """An object's stay in a zone, ended in this frame: ``seconds`` (capture time) from its first
    frame inside to its first frame outside, or to its last sighting when its track ended."""

    zone: str
    label: str
    track_id: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"zone": self.zone, "label": self.label, "id": self.track_id,
                "s": round(self.seconds, 3)}

    @classmethod
    def from_dict(cls, data: Any) -> "Stay":
        try:
            stay = cls(str(data["zone"]), str(data["label"]), int(data["id"]), float(data["s"]))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise MessageError(f"bad stay {str(data)[:80]}: {exc}") from exc
        if not math.isfinite(stay.seconds) or stay.seconds < 0:
            raise MessageError(f"bad stay duration {stay.seconds!r}")
        return stay


@dataclass(frozen=True)
class TrackMessage:
    """A tracked frame, as the tracker writes it to ``cctv:tracks:{camera}`` and publishes.

    Frames come in capture order. ``tracks`` are the objects that count (see docs/tracking.md);
    ``crossings`` the line crossings in this frame; ``zones`` maps zone -> label -> objects
    inside in this frame; ``counts`` is label -> detections that count in this frame;
    ``stays`` the stays in zones that ended in this frame.
    """

    camera: str
    frame_id: str
    seq: int
    ts: float
    width: int
    height: int
    tracks: list[TrackedObject] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    zones: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    stays: list[Stay] = field(default_factory=list)

    def to_fields(self) -> dict[str, str]:
        compact = {"separators": (",", ":")}
        return {
            "v": PROTOCOL_VERSION, "camera": self.camera, "frame_id": self.frame_id,
            "seq": str(self.seq), "ts": repr(self.ts),
            "width": str(self.width), "height": str(self.height),
            "tracks": json.dumps([t.to_dict() for t in self.tracks], **compact),
            "crossings": json.dumps([c.to_dict() for c in self.crossings], **compact),
            "zones": json.dumps(self.zones, **compact),
            "counts": json.dumps(self.counts, **compact),
            "stays": json.dumps([s.to_dict() for s in self.stays], **compact),
        }

    def to_json(self) -> str:
        """The pub/sub payload: the same fields as one JSON object (structured, not strings)."""
        data: dict[str, Any] = dict(self.to_fields())
        for name in ("tracks", "crossings", "zones", "counts", "stays"):
            data[name] = json.loads(data[name])
        data.update(seq=self.seq, ts=self.ts, width=self.width, height=self.height)
        return json.dumps(data)

    @classmethod
    def from_fields(cls, fields: Fields) -> "TrackMessage":
        check_version(fields)
        tracks, crossings, zones = (field_json(fields, n)
                                    for n in ("tracks", "crossings", "zones"))
        if not isinstance(tracks, list) or not isinstance(crossings, list):
            raise MessageError("fields 'tracks' and 'crossings' must be JSON lists")
        check_items(tracks, "field 'tracks'")
        check_items(crossings, "field 'crossings'")
        if not isinstance(zones, dict) or not all(isinstance(v, dict) for v in zones.values()):
            raise MessageError("field 'zones' must map zone -> {label: count}")
        check_items(zones, "field 'zones'", dict)
        width, height = field_size(fields)
        stays = field_json(fields, "stays") or [] if "stays" in fields or b"stays" in fields \
            else []
        if not isinstance(stays, list):
            raise MessageError("field 'stays' must be a JSON list")
        check_items(stays, "field 'stays'")
        counts = field_json(fields, "counts") or {} if "counts" in fields or b"counts" in fields \
            else {}
        try:
            zones = {str(z): {str(k): int(v) for k, v in labels.items()}
                     for z, labels in zones.items()}
            counts = {str(k): int(v) for k, v in check_items(counts, "field 'counts'",
                                                             dict).items()}
        except (AttributeError, TypeError, ValueError, OverflowError) as exc:
            raise MessageError(f"fields 'zones' and 'counts' must hold integer counts: {exc}") \
                from exc
        return cls(
            camera=field_text(fields, "camera"), frame_id=field_frame_id(fields),
            seq=field_seq(fields), ts=field_ts(fields, "ts"), width=width, height=height,
            tracks=[TrackedObject.from_dict(t) for t in tracks],
            crossings=[Crossing.from_dict(c) for c in crossings],
            zones=zones, counts=counts, stays=[Stay.from_dict(s) for s in stays],
        )

    @classmethod
    def from_json(cls, payload: str | bytes) -> "TrackMessage":
        return cls.from_fields(payload_fields(payload, ("tracks", "crossings", "zones",
                                                         "counts", "stays")))
