"""What services keep about themselves in Redis: ingest's camera state, workers' heartbeats,
dead letters and each service's last Redis outage."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

from .fields import (PROTOCOL_VERSION, Fields, MessageError, check_version, field_float,
                     field_int, field_text, text, field_ts, payload_fields)
from .stream_ids import StreamId


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
        check_version(fields)
        return cls(field_text(fields, "camera"), field_text(fields, "entry_id"),
                   field_text(fields, "reason"), field_text(fields, "worker"),
                   field_ts(fields, "ts"), field_text(fields, "stream", "frames"))


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
        fields = payload_fields(raw, ())
        return cls(service, field_ts(fields, "lost"), field_ts(fields, "back"))


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

    def to_fields(self, names: Sequence[str] | None = None) -> dict[str, str]:
        """Every field, or only ``names`` (ingest sets some and increments the counters)."""
        return {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in asdict(self).items()
                if names is None or k in names}

    @classmethod
    def from_fields(cls, fields: Fields) -> "CameraState":
        state = field_text(fields, "state")
        if state not in CAMERA_STATES:
            raise MessageError(f"unknown camera state {state!r}")
        return cls(
            state=state,
            url=field_text(fields, "url", ""),
            fps=field_float(fields, "fps", 0.0),
            last_frame_ts=field_ts(fields, "last_frame_ts", 0.0),
            frames_in=field_int(fields, "frames_in", 0),
            frames_dropped=field_int(fields, "frames_dropped", 0),
            frames_motion=field_int(fields, "frames_motion", 0),
            frames_still=field_int(fields, "frames_still", 0),
            reconnects=field_int(fields, "reconnects", 0),
            error=field_text(fields, "error", ""),
            updated=field_ts(fields, "updated", 0.0),
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
            worker=field_text(fields, "worker"),
            host=field_text(fields, "host"),
            pid=field_int(fields, "pid"),
            device=field_text(fields, "device"),
            started=field_ts(fields, "started"),
            ts=field_ts(fields, "ts"),
            frames=field_int(fields, "frames", 0),
            fps=field_float(fields, "fps", 0.0),
            batch_size=field_float(fields, "batch_size", 0.0),
            latency_ms=field_float(fields, "latency_ms", 0.0),
            dead_letters=field_int(fields, "dead_letters", 0),
            model=field_text(fields, "model", ""),
        )


def dead_letter_streams(client, keys) -> list[str]:
    """Every stream that may hold dead letters, whatever the layout that wrote them: the global
    ``cctv:dead-letter`` (one Redis) and each camera's ``cctv:dead-letter:{cam}`` listed in the
    ``cctv:dead-letter-cameras`` index (Redis Cluster)."""
    cameras = sorted(text(c) for c in client.smembers(keys.dead_letter_cameras))
    tagged = replace(keys, hash_tags=True)
    return [keys.dead_letter] + [tagged.dead_letters(c) for c in cameras]


def count_dead_letters(client, keys) -> int:
    """Entries in every dead-letter stream (:func:`dead_letter_streams`)."""
    pipe = client.pipeline(transaction=False)
    for stream in dead_letter_streams(client, keys):
        pipe.xlen(stream)
    return sum(int(n) for n in pipe.execute())


def read_dead_letters(client, keys, count: int = 100) -> list[DeadLetter]:
    """The newest ``count`` dead letters of every stream, newest first (unreadable ones
    skipped)."""
    pipe = client.pipeline(transaction=False)
    for stream in dead_letter_streams(client, keys):
        pipe.xrevrange(stream, count=count)
    entries = [e for reply in pipe.execute() for e in reply]
    entries.sort(key=lambda e: StreamId.parse(e[0]), reverse=True)
    letters = []
    for _, fields in entries[:count]:
        try:
            letters.append(DeadLetter.from_fields(fields))
        except MessageError:
            continue
    return letters


TRACKER_ERROR_FIELD = "error"
"""The field of ``cctv:tracker-state:{cam}`` holding why the tracker stopped the camera (a key of
the wrong type, named); absent while the camera is sound."""

TRACKED_FRAME_FIELD = "frame_id"
"""The field of ``cctv:tracker-state:{cam}`` holding the id of the last frame the camera's tracker
took (written with its counts by the tracker's Lua script, :mod:`tracking.store`)."""

FRAMES_NEEDED_FIELD = "frames_needed_from"
"""The field of ``cctv:tracker-state:{cam}`` holding the oldest frame id the camera's tracker may
still read (the last frame of its batch before: the frames after it are read for snapshots): a
file's ingest trims only below it and below the tracked ``frame_id`` while the tracker holds the
camera's lock."""
