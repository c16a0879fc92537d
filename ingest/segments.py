"""One camera's recording segments from open to indexed, whichever recorder writes them (stream
copy, :mod:`ingest.recording`; encoded frames, :mod:`ingest.frame_recording`).

A segment is written as ``<start_ms>.mp4.part`` and renamed ``.mp4`` when closed, then indexed
(:mod:`runtime.recordings`) and retention runs: by age and size, and for a camera recorded only
for its events, by what they need (:class:`~runtime.recordings.EventRetention`). Fragmented MP4
(:data:`MOVFLAGS`) keeps a segment cut short by a crash playable up to its last fragment: the
first segment of a process salvages those (:func:`~runtime.recordings.rebuild_index`). A write
error (a full disk) loses the segment, says so once in the log and in the camera's state hash,
and never stops the frames being published.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import av
import redis

from common.cameras import CameraConfig
from common.keys import Keys
from runtime import metrics
from runtime.outage import REDIS_DOWN
from runtime.recordings import (
    RECORDING_ERROR_FIELD,
    EventRetention,
    Segment,
    add_segment,
    enforce_retention,
    probe_segment,
    rebuild_index,
    segment_path,
)

from .settings import IngestSettings

log = logging.getLogger("cctv.ingest.recording")

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+delay_moov"
"""Self-contained fragments, one per keyframe; ``delay_moov`` writes the header with the first
fragment, so a camera that sends its parameter sets in-band (no extradata) still gets them."""
GB = 1_000_000_000


class OpenSegment(Protocol):
    """A segment being written (``path`` ends ``.part``)."""

    path: Path

    def close(self) -> None:
        """Finish the file (its last fragment written)."""

    def discard(self) -> None:
        """Close without keeping anything (after a write error)."""


def open_container(path: Path) -> av.container.OutputContainer:
    """A new segment file at ``path`` (its folders made): fragmented MP4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return av.open(str(path), mode="w", format="mp4", options={"movflags": MOVFLAGS})


def discard_container(container: av.container.OutputContainer, path: Path) -> None:
    """Close ``container`` however it fares and delete its file."""
    try:
        container.close()
    except (OSError, av.FFmpegError):
        pass
    path.unlink(missing_ok=True)


class CameraSegments:
    """One camera's segments: where the next one goes, and what follows its close."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: CameraConfig,
                 settings: IngestSettings):
        self.client, self.keys, self.cam = client, keys, camera
        self.root = settings.recordings_dir.resolve()
        self.total_max_bytes = (int(settings.recordings_max_gb * GB)
                                if settings.recordings_max_gb else None)
        self.events = EventRetention(camera.name,
                                     lambda label: camera.events.wants_clip(label, None))
        self.events_only = False
        """The camera is recorded for its events' clips only: segments are kept as they need."""
        self.rebuilt = False
        self.recorded_until = 0.0  # Unix seconds: the end of the last segment closed
        self.failing = False  # a write error was said and not yet cleared by a closed segment

    def prepare(self) -> None:
        """Before the first segment: the index made to match the folder (segments a crash
        left open salvaged); retried before the next while Redis is away."""
        if self.rebuilt:
            return
        try:
            rebuild_index(self.client, self.keys, self.root, self.cam.name)
            self.rebuilt = True
        except REDIS_DOWN as exc:
            log.warning("camera %s: recording index not rebuilt (Redis: %s)", self.cam.name, exc)

    def part_path(self, start_ms: int) -> Path:
        """Where the segment starting at ``start_ms`` (Unix ms) is written."""
        return self.root / (segment_path(self.cam.name, start_ms) + ".part")

    def close(self, writer: OpenSegment) -> Segment | None:
        """Close ``writer``'s segment, index it and run retention; None when it is lost (said)."""
        closed = writer.path.with_name(writer.path.name.removesuffix(".part"))
        try:
            writer.close()
            writer.path.rename(closed)
            segment = probe_segment(self.root, self.cam.name, closed)
        except (OSError, ValueError, av.FFmpegError) as exc:
            writer.discard()
            closed.unlink(missing_ok=True)
            self.fail(exc)
            return None
        metrics.RECORDED_BYTES.labels(self.cam.name).inc(segment.bytes)
        self.recorded_until = segment.end_ts
        record = self.cam.record
        try:
            add_segment(self.client, self.keys, segment)
            enforce_retention(self.client, self.keys, self.root, self.cam.name,
                              record.retain_days * 86_400,
                              int(record.max_gb * GB) if record.max_gb else None,
                              self.total_max_bytes, headroom=segment.bytes)
            if self.events_only:
                self.events.enforce(self.client, self.keys, self.root)
            if self.failing:
                self.failing = False
                self.client.hdel(self.keys.state(self.cam.name), RECORDING_ERROR_FIELD)
                log.info("camera %s: recording again", self.cam.name)
        except REDIS_DOWN as exc:  # the file stays; the next start indexes it
            log.warning("camera %s: segment %s not indexed (Redis: %s)", self.cam.name,
                        closed.name, exc)
        return segment

    def fail(self, exc: BaseException, writer: OpenSegment | None = None) -> None:
        """A segment lost to ``exc`` (``writer``'s, discarded): counted, said once, flagged in
        the camera's state."""
        if writer is not None:
            writer.discard()
        metrics.RECORDING_ERRORS.labels(self.cam.name).inc()
        if self.failing:
            return
        self.failing = True
        why = f"recording failed: {exc}"[:300]
        log.error("camera %s: %s (frames are still published)", self.cam.name, why)
        try:
            self.client.hset(self.keys.state(self.cam.name), RECORDING_ERROR_FIELD, why)
        except REDIS_DOWN:
            pass
