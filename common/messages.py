"""Frames and detections as ingest and the workers write them to Redis streams, with explicit
encode/decode (fields: :mod:`common.fields`).

Every field is a flat string (UTF-8) except a frame's ``jpeg`` (raw JPEG bytes); structured fields
(detections, counts) are JSON, so any language can produce or consume these entries.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .fields import (PROTOCOL_VERSION, Fields, MessageError, check_box, check_items,
                     check_version, field_frame_id, field_json, field_seq,
                     field_size, field_text, field_ts, payload_fields)

JPEG_MAGIC = b"\xff\xd8"


@dataclass(frozen=True)
class FrameMessage:
    """One captured frame, as ingest writes it to ``cctv:frames:{camera}``.

    ``ts`` is the capture time (Unix seconds); ``seq`` the frame's index in its source.
    ``motion``: the moving regions (x1, y1, x2, y2 in pixels of this frame) when ingest measures
    motion, else None; ``detect`` False lets a worker carry the previous frame's objects over
    instead of running the detector (nothing moved and a full detection is recent).
    """

    camera: str
    seq: int
    ts: float
    width: int
    height: int
    jpeg: bytes
    source: str = "live"
    motion: list[tuple[int, int, int, int]] | None = None
    detect: bool = True

    def to_fields(self) -> dict[str, str | bytes]:
        fields: dict[str, str | bytes] = {
            "v": PROTOCOL_VERSION,
            "camera": self.camera,
            "seq": str(self.seq),
            "ts": repr(self.ts),
            "width": str(self.width),
            "height": str(self.height),
            "source": self.source,
            "jpeg": self.jpeg,
        }
        if self.motion is not None:
            fields["motion"] = json.dumps([list(b) for b in self.motion], separators=(",", ":"))
        if not self.detect:
            fields["detect"] = "0"
        return fields

    @classmethod
    def from_fields(cls, fields: Fields) -> "FrameMessage":
        check_version(fields)
        jpeg = fields.get("jpeg", fields.get(b"jpeg"))
        if not isinstance(jpeg, bytes) or not jpeg:
            raise MessageError("missing or empty field 'jpeg'")
        if not jpeg.startswith(JPEG_MAGIC):
            raise MessageError("field 'jpeg' is not a JPEG (no FFD8 start marker)")
        width, height = field_size(fields)
        return cls(
            camera=field_text(fields, "camera"),
            seq=field_seq(fields),
            ts=field_ts(fields, "ts"),
            width=width,
            height=height,
            jpeg=jpeg,
            source=field_text(fields, "source", "live"),
            motion=_motion(fields),
            detect=field_text(fields, "detect", "1") != "0",
        )


def _motion(fields: Fields) -> list[tuple[int, int, int, int]] | None:
    """A frame's motion boxes (absent: not measured)."""
    if fields.get("motion", fields.get(b"motion")) is None:
        return None
    boxes = check_items(field_json(fields, "motion"), "field 'motion'")
    try:
        if any(not isinstance(box, list) or len(box) != 4 for box in boxes):
            raise ValueError("want [[x1, y1, x2, y2], ...]")
        return [tuple(int(v) for v in check_box(box, "motion box")) for box in boxes]
    except (TypeError, ValueError) as exc:
        raise MessageError(f"field 'motion' is not a list of boxes: {exc}") from exc


@dataclass(frozen=True)
class DetectedObject:
    """One detection: class name and id, score in [0, 1], box (x1, y1, x2, y2) in pixels
    (finite, within :data:`~common.fields.MAX_COORDINATE`)."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "class_id": self.class_id, "score": round(self.score, 4),
                "box": [round(v, 1) for v in self.box]}

    @classmethod
    def from_dict(cls, data: Any) -> "DetectedObject":
        try:
            box = check_box([float(v) for v in data["box"]], "box")
            score = float(data["score"])
            if not math.isfinite(score):
                raise ValueError(f"score {score} is not a finite number")
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"score {score} is not in [0, 1]")
            return cls(str(data["label"]), int(data["class_id"]), score, box)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise MessageError(f"bad detection {str(data)[:80]}: {exc}") from exc


@dataclass(frozen=True)
class DetectionMessage:
    """A frame's detections, as workers write them to ``cctv:detections:{camera}`` and publish.

    ``frame_id`` is the frame's stream entry id; ``ts`` its capture time and ``ts_done`` the time
    the detections were published (both Unix seconds); ``counts`` is detections per label.
    """

    camera: str
    frame_id: str
    seq: int
    ts: float
    ts_done: float
    worker: str
    width: int
    height: int
    objects: list[DetectedObject] = field(default_factory=list)
    carried: bool = False
    """The detector did not run: ``objects`` are those of an earlier frame (nothing moved)."""

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for obj in self.objects:
            counts[obj.label] = counts.get(obj.label, 0) + 1
        return counts

    def to_fields(self) -> dict[str, str]:
        return {
            "v": PROTOCOL_VERSION,
            "camera": self.camera,
            "frame_id": self.frame_id,
            "seq": str(self.seq),
            "ts": repr(self.ts),
            "ts_done": repr(self.ts_done),
            "worker": self.worker,
            "width": str(self.width),
            "height": str(self.height),
            "detections": json.dumps([o.to_dict() for o in self.objects], separators=(",", ":")),
            "counts": json.dumps(self.counts, separators=(",", ":")),
            **({"carried": "1"} if self.carried else {}),
        }

    def to_json(self) -> str:
        """The pub/sub payload: the same fields as one JSON object (structured, not strings)."""
        data = self.to_fields()
        return json.dumps({**data, "detections": json.loads(data["detections"]),
                           "counts": self.counts, "seq": self.seq, "ts": self.ts,
                           "ts_done": self.ts_done, "width": self.width, "height": self.height})

    @classmethod
    def from_fields(cls, fields: Fields) -> "DetectionMessage":
        check_version(fields)
        objects = check_items(field_json(fields, "detections"), "field 'detections'")
        width, height = field_size(fields)
        return cls(
            camera=field_text(fields, "camera"),
            frame_id=field_frame_id(fields),
            seq=field_seq(fields),
            ts=field_ts(fields, "ts"),
            ts_done=field_ts(fields, "ts_done"),
            worker=field_text(fields, "worker"),
            width=width,
            height=height,
            objects=[DetectedObject.from_dict(o) for o in objects],
            carried=field_text(fields, "carried", "0") == "1",
        )

    @classmethod
    def from_json(cls, payload: str | bytes) -> "DetectionMessage":
        return cls.from_fields(payload_fields(payload, ("detections",)))
