"""Message schemas carried in Redis streams and hashes, with explicit encode/decode.

Every field is a flat string (UTF-8) except a frame's ``jpeg`` (raw JPEG bytes); structured fields
(detections, counts) are JSON. Nothing is ever pickled, so any language can produce or consume
these entries (see docs/protocol.md). ``from_fields`` accepts what redis-py returns (bytes or str
keys and values) and raises :class:`MessageError` with a one-line reason on anything malformed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

PROTOCOL_VERSION = "1"
JPEG_MAGIC = b"\xff\xd8"

Fields = Mapping[Any, Any]


class MessageError(ValueError):
    """A stream entry or hash that does not follow the protocol."""


def _text(fields: Fields, name: str, default: str | None = None) -> str:
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


def _int(fields: Fields, name: str, default: int | None = None) -> int:
    raw = _text(fields, name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise MessageError(f"field {name!r} is not an integer: {raw[:40]!r}") from exc


def _float(fields: Fields, name: str, default: float | None = None) -> float:
    raw = _text(fields, name, None if default is None else repr(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise MessageError(f"field {name!r} is not a number: {raw[:40]!r}") from exc
    if not math.isfinite(value):
        raise MessageError(f"field {name!r} is not finite: {raw!r}")
    return value


STREAM_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


def _frame_id(fields: Fields) -> str:
    """A frame id: a stream entry id ``<ms>-<seq>``."""
    frame_id = _text(fields, "frame_id")
    if not STREAM_ID.match(frame_id):
        raise MessageError(f"field 'frame_id' is not a stream id (ms-seq): {frame_id[:40]!r}")
    return frame_id


def _seq(fields: Fields) -> int:
    """A frame's index in its source: 0 or more."""
    seq = _int(fields, "seq")
    if seq < 0:
        raise MessageError(f"field 'seq' is negative: {seq}")
    return seq


def _size(fields: Fields) -> tuple[int, int]:
    """(width, height), both positive."""
    width, height = _int(fields, "width"), _int(fields, "height")
    if width <= 0 or height <= 0:
        raise MessageError(f"bad frame size {width}x{height}")
    return width, height


def _json(fields: Fields, name: str) -> Any:
    raw = _text(fields, name)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MessageError(f"field {name!r} is not JSON: {exc.msg}") from exc


def _payload_fields(payload: str | bytes, structured: tuple[str, ...]) -> dict[str, Any]:
    """A pub/sub JSON payload as stream fields: the ``structured`` values back as JSON text."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise MessageError(f"payload is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise MessageError("payload is not a JSON object")
    return {**data, **{name: json.dumps(data.get(name)) for name in structured}}


def _check_version(fields: Fields) -> None:
    version = _text(fields, "v")
    if version != PROTOCOL_VERSION:
        raise MessageError(f"unsupported protocol version {version!r} (want {PROTOCOL_VERSION})")


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
        _check_version(fields)
        jpeg = fields.get("jpeg", fields.get(b"jpeg"))
        if not isinstance(jpeg, bytes) or not jpeg:
            raise MessageError("missing or empty field 'jpeg'")
        if not jpeg.startswith(JPEG_MAGIC):
            raise MessageError("field 'jpeg' is not a JPEG (no FFD8 start marker)")
        width, height = _size(fields)
        return cls(
            camera=_text(fields, "camera"),
            seq=_int(fields, "seq"),
            ts=_float(fields, "ts"),
            width=width,
            height=height,
            jpeg=jpeg,
            source=_text(fields, "source", "live"),
            motion=_motion(fields),
            detect=_text(fields, "detect", "1") != "0",
        )


def _motion(fields: Fields) -> list[tuple[int, int, int, int]] | None:
    """A frame's motion boxes (absent: not measured)."""
    if fields.get("motion", fields.get(b"motion")) is None:
        return None
    boxes = _json(fields, "motion")
    try:
        if not isinstance(boxes, list) or any(len(box) != 4 for box in boxes):
            raise ValueError("want [[x1, y1, x2, y2], ...]")
        return [tuple(int(v) for v in box) for box in boxes]
    except (TypeError, ValueError) as exc:
        raise MessageError(f"field 'motion' is not a list of boxes: {exc}") from exc


@dataclass(frozen=True)
class DetectedObject:
    """One detection: class name and id, score in [0, 1], box (x1, y1, x2, y2) in pixels."""

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
            box = tuple(float(v) for v in data["box"])
            if len(box) != 4:
                raise ValueError("box needs 4 numbers")
            score = float(data["score"])
            if not all(math.isfinite(v) for v in (score, *box)):
                raise ValueError("score and box must be finite numbers")
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
        _check_version(fields)
        objects = _json(fields, "detections")
        if not isinstance(objects, list):
            raise MessageError("field 'detections' is not a JSON list")
        width, height = _size(fields)
        return cls(
            camera=_text(fields, "camera"),
            frame_id=_frame_id(fields),
            seq=_seq(fields),
            ts=_float(fields, "ts"),
            ts_done=_float(fields, "ts_done"),
            worker=_text(fields, "worker"),
            width=width,
            height=height,
            objects=[DetectedObject.from_dict(o) for o in objects],
            carried=_text(fields, "carried", "0") == "1",
        )

    @classmethod
    def from_json(cls, payload: str | bytes) -> "DetectionMessage":
        return cls.from_fields(_payload_fields(payload, ("detections",)))


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
        except (KeyError, TypeError, ValueError) as exc:
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
        except (KeyError, TypeError, ValueError) as exc:
            raise MessageError(f"bad crossing {str(data)[:80]}: {exc}") from exc
        if crossing.direction not in ("in", "out"):
            raise MessageError(f"bad crossing direction {crossing.direction!r}")
        return crossing


@dataclass(frozen=True)
class TrackMessage:
    """A tracked frame, as the tracker writes it to ``cctv:tracks:{camera}`` and publishes.

    Frames come in capture order. ``tracks`` are the objects that count (see docs/tracking.md);
    ``crossings`` the line crossings in this frame; ``zones`` maps zone -> label -> objects
    inside in this frame; ``counts`` is label -> detections that count in this frame.
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
        }

    def to_json(self) -> str:
        """The pub/sub payload: the same fields as one JSON object (structured, not strings)."""
        data: dict[str, Any] = dict(self.to_fields())
        for name in ("tracks", "crossings", "zones", "counts"):
            data[name] = json.loads(data[name])
        data.update(seq=self.seq, ts=self.ts, width=self.width, height=self.height)
        return json.dumps(data)

    @classmethod
    def from_fields(cls, fields: Fields) -> "TrackMessage":
        _check_version(fields)
        tracks, crossings, zones = (_json(fields, n) for n in ("tracks", "crossings", "zones"))
        if not isinstance(tracks, list) or not isinstance(crossings, list):
            raise MessageError("fields 'tracks' and 'crossings' must be JSON lists")
        if not isinstance(zones, dict) or not all(isinstance(v, dict) for v in zones.values()):
            raise MessageError("field 'zones' must map zone -> {label: count}")
        width, height = _size(fields)
        counts = _json(fields, "counts") or {} if "counts" in fields or b"counts" in fields \
            else {}
        try:
            zones = {str(z): {str(k): int(v) for k, v in labels.items()}
                     for z, labels in zones.items()}
            counts = {str(k): int(v) for k, v in counts.items()}
        except (AttributeError, TypeError, ValueError) as exc:
            raise MessageError(f"fields 'zones' and 'counts' must hold integer counts: {exc}") \
                from exc
        return cls(
            camera=_text(fields, "camera"), frame_id=_frame_id(fields),
            seq=_seq(fields), ts=_float(fields, "ts"), width=width, height=height,
            tracks=[TrackedObject.from_dict(t) for t in tracks],
            crossings=[Crossing.from_dict(c) for c in crossings],
            zones=zones, counts=counts,
        )

    @classmethod
    def from_json(cls, payload: str | bytes) -> "TrackMessage":
        return cls.from_fields(_payload_fields(payload, ("tracks", "crossings", "zones",
                                                         "counts")))


@dataclass(frozen=True)
class DeadLetter:
    """An entry a service could not use, as written to ``cctv:dead-letter``: a frame entry
    (``stream`` = ``frames``, by a worker) or a detections entry (``detections``, by a tracker,
    whose id is then in ``worker``)."""

    camera: str
    entry_id: str
    reason: str
    worker: str
    ts: float
    stream: str = "frames"

    def to_fields(self) -> dict[str, str]:
        return {"v": PROTOCOL_VERSION, "camera": self.camera, "entry_id": self.entry_id,
                "reason": self.reason, "worker": self.worker, "ts": repr(self.ts),
                "stream": self.stream}

    @classmethod
    def from_fields(cls, fields: Fields) -> "DeadLetter":
        _check_version(fields)
        return cls(_text(fields, "camera"), _text(fields, "entry_id"), _text(fields, "reason"),
                   _text(fields, "worker"), _float(fields, "ts"),
                   _text(fields, "stream", "frames"))


@dataclass(frozen=True)
class RedisLoss:
    """A service's last Redis outage, in the ``cctv:redis-losses`` hash under its id: when it
    lost Redis and when Redis answered again (Unix seconds)."""

    service: str
    lost: float
    back: float

    def to_json(self) -> str:
        return json.dumps({"lost": self.lost, "back": self.back})

    @classmethod
    def from_json(cls, service: str, raw: str | bytes) -> "RedisLoss":
        fields = _payload_fields(raw, ())
        return cls(service, _float(fields, "lost"), _float(fields, "back"))


@dataclass(frozen=True)
class CameraState:
    """Ingest's view of one camera, kept in the ``cctv:state:{camera}`` hash.

    ``state`` is one of :data:`CAMERA_STATES`; ``url`` has credentials masked; ``fps`` is the
    measured publish rate; counters are totals since the camera was first seen.
    """

    state: str
    url: str = ""
    fps: float = 0.0
    last_frame_ts: float = 0.0
    frames_in: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    error: str = ""
    updated: float = 0.0
    frames_motion: int = 0
    """Frames published with motion in them (motion gating on)."""
    frames_still: int = 0
    """Frames published without motion and without need of a detection: workers skip them."""

    def to_fields(self) -> dict[str, str]:
        return {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: Fields) -> "CameraState":
        state = _text(fields, "state")
        if state not in CAMERA_STATES:
            raise MessageError(f"unknown camera state {state!r}")
        return cls(
            state=state,
            url=_text(fields, "url", ""),
            fps=_float(fields, "fps", 0.0),
            last_frame_ts=_float(fields, "last_frame_ts", 0.0),
            frames_in=_int(fields, "frames_in", 0),
            frames_dropped=_int(fields, "frames_dropped", 0),
            frames_motion=_int(fields, "frames_motion", 0),
            frames_still=_int(fields, "frames_still", 0),
            reconnects=_int(fields, "reconnects", 0),
            error=_text(fields, "error", ""),
            updated=_float(fields, "updated", 0.0),
        )


CAMERA_STATES = ("starting", "online", "offline", "finished", "stopped", "error")
"""online: frames flowing; offline: retrying with backoff; finished: a file reached its end;
stopped: removed or ingest shut down; error: a permanent error (e.g. missing file)."""


@dataclass(frozen=True)
class WorkerHeartbeat:
    """A worker's health, in the ``cctv:worker:{id}`` hash (expires when the worker dies)."""

    worker: str
    host: str
    pid: int
    device: str
    started: float
    ts: float
    frames: int = 0
    fps: float = 0.0
    batch_size: float = 0.0
    latency_ms: float = 0.0
    dead_letters: int = 0
    model: str = ""
    """The detector spec the worker runs (``ssdlite-person``, ``mb1-ssd:PATH``)."""

    def to_fields(self) -> dict[str, str]:
        return {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in asdict(self).items()}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_fields(cls, fields: Fields) -> "WorkerHeartbeat":
        return cls(
            worker=_text(fields, "worker"),
            host=_text(fields, "host"),
            pid=_int(fields, "pid"),
            device=_text(fields, "device"),
            started=_float(fields, "started"),
            ts=_float(fields, "ts"),
            frames=_int(fields, "frames", 0),
            fps=_float(fields, "fps", 0.0),
            batch_size=_float(fields, "batch_size", 0.0),
            latency_ms=_float(fields, "latency_ms", 0.0),
            dead_letters=_int(fields, "dead_letters", 0),
            model=_text(fields, "model", ""),
        )
