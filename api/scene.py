"""What a camera shows: a frame from Redis with the objects found on that very frame.

A scene pairs a frame entry (``cctv:frames:{camera}``) with the tracker's message for it when the
tracker is up to date, else with the workers' detections, else it is the raw frame. Boxes always
belong to the frame they are drawn on: a message whose frame was trimmed gives no scene.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Literal, Sequence, TypeVar

import redis

from common.cameras import CameraConfig
from common.counts import LineCounts
from common.fields import MessageError
from common.keys import Keys
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.tracks import TrackedObject, TrackMessage
from media.draw import Overlay, place_overlays

TRACK_LAG_S = 3.0
"""A tracked frame this much older than the newest detections is stale: show detections."""

Kind = Literal["tracked", "detected", "raw"]
M = TypeVar("M", FrameMessage, DetectionMessage, TrackMessage)


@dataclass
class Scene:
    """One frame of ``camera`` and what was found on it."""

    camera: str
    frame_id: str
    jpeg: bytes
    width: int
    height: int
    ts: float
    """Capture time (Unix seconds)."""
    kind: Kind = "raw"
    """``tracked`` (objects carry track ids), ``detected``, or ``raw`` (no worker saw it yet)."""
    objects: list[DetectedObject | TrackedObject] = field(default_factory=list)
    zones: dict[str, dict[str, int]] = field(default_factory=dict)
    """Zone -> label -> objects inside, in this frame (tracked scenes only)."""
    written: float = 0.0
    """When the message showing it was written to Redis (its entry id's time; 0 = unknown)."""


def parse(message: type[M], fields: dict) -> M | None:
    """The message, or None for a malformed entry (shown as nothing, never as a crash)."""
    try:
        return message.from_fields(fields)
    except MessageError:
        return None


def newest(client: redis.Redis, stream: str, message: type[M]) -> M | None:
    """The newest entry of ``stream`` as ``message`` (None: empty or malformed)."""
    entries = client.xrevrange(stream, count=1)
    return parse(message, entries[0][1]) if entries else None


def frame(client: redis.Redis, keys: Keys, camera: str, frame_id: str) -> FrameMessage | None:
    """The frame entry ``frame_id`` (None: trimmed or malformed)."""
    entries = client.xrange(keys.frames(camera), frame_id, frame_id)
    return parse(FrameMessage, entries[0][1]) if entries else None


def scene_of(client: redis.Redis, keys: Keys,
             message: DetectionMessage | TrackMessage) -> Scene | None:
    """The scene of a worker's or the tracker's message (None when its frame is gone)."""
    found = frame(client, keys, message.camera, message.frame_id)
    if found is None:
        return None
    if isinstance(message, TrackMessage):
        return Scene(message.camera, message.frame_id, found.jpeg, message.width, message.height,
                     message.ts, "tracked", list(message.tracks), message.zones)
    return Scene(message.camera, message.frame_id, found.jpeg, message.width, message.height,
                 message.ts, "detected", list(message.objects))


def tracker_current(tracks: TrackMessage | None, detections: DetectionMessage | None) -> bool:
    """True when the tracker keeps up with the workers (its ids are worth showing)."""
    return tracks is not None and (detections is None or detections.ts - tracks.ts <= TRACK_LAG_S)


def newest_messages(client: redis.Redis, keys: Keys,
                    camera: str) -> list[TrackMessage | DetectionMessage]:
    """The newest tracked frame (when the tracker is current) and the newest detections, in
    that order of preference; empty before any worker processed a frame."""
    detections = newest(client, keys.detections(camera), DetectionMessage)
    tracks = newest(client, keys.tracks(camera), TrackMessage)
    found = [tracks] if tracker_current(tracks, detections) else []
    return found + ([detections] if detections else [])


def newest_scene(client: redis.Redis, keys: Keys, camera: str) -> Scene | None:
    """The newest tracked frame when the tracker is current, else the newest detected frame, else
    the newest raw frame, else None (no frame at all)."""
    for message in newest_messages(client, keys, camera):
        scene = scene_of(client, keys, message)
        if scene:
            return scene
    entries = client.xrevrange(keys.frames(camera), count=1)
    raw = parse(FrameMessage, entries[0][1]) if entries else None
    if raw is None:
        return None
    return Scene(camera, entries[0][0].decode(), raw.jpeg, raw.width, raw.height, raw.ts)


def visible(objects: Iterable[DetectedObject], labels: Sequence[str] | None,
            min_score: float) -> list[DetectedObject]:
    """The objects that pass a class filter (None = all) and a minimum score."""
    return [o for o in objects
            if o.score >= min_score and (labels is None or o.label in labels)]


def count_labels(objects: Iterable[DetectedObject]) -> dict[str, int]:
    """Objects per label."""
    return dict(Counter(obj.label for obj in objects))


def overlays(config: CameraConfig | None, line_totals: dict[str, LineCounts],
             zones_now: dict[str, dict[str, int]]) -> tuple[list[Overlay], list[Overlay]]:
    """The camera's counting lines captioned with their in/out totals and its zones with the
    objects inside now."""
    if config is None:
        return [], []
    crossed = {(line, direction): sum(labels.values())
               for line, counts in line_totals.items()
               for direction, labels in counts.to_dict().items()}
    return place_overlays(config.lines, config.zones, crossed, zones_now)
