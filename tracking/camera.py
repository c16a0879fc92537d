"""One camera's tracking state: reorder buffer -> ByteTrack -> line and zone counts, and its
snapshot (everything another process needs to continue exactly where this one stopped)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from common.counting_rules import CountingConfig, LineConfig, ZoneConfig
from common.counts import counted_detections
from common.fields import Fields, MessageError
from common.messages import DetectedObject, DetectionMessage
from common.tracks import TrackMessage
from runtime import metrics

from .bytetrack import ByteTrack
from .counting import CameraCounting, Counted, kept
from .reorder import OrderKey, ReorderBuffer, before, order_key
from .settings import TrackerSettings

log = logging.getLogger("cctv.tracker")

SNAPSHOT_VERSION = 2
"""Version 1 snapshots (before the counting rules) load with no per-object counting state."""
SNAPSHOT_MAX_BYTES = 64 << 20
"""The largest snapshot read back: far above the few MB of thousands of tracks and objects."""
STREAM_START = "0-0"
MAX_TRACKED_BOXES = 300
"""Boxes tracked per frame, the highest-scoring kept: ByteTrack's matching grows with the square
of the boxes (1000 take ~0.15 s a frame, 300 ~0.02 s), and a pass must stay within its lock."""


class SnapshotError(ValueError):
    """A tracker snapshot that cannot be continued from."""


@dataclass(frozen=True)
class TrackedFrame:
    """One tracked frame (its objects, crossings, occupancy and counted detections) and the
    objects that first counted and the stays in zones that ended in it."""

    message: TrackMessage
    counted: Counted


class CameraTracker:
    """Tracks one camera: :meth:`add` each detections entry, then :meth:`ready` the frames that
    can be tracked now; :meth:`snapshot` after them.

    ``read_id`` is the last detections entry read; entries up to ``counted_id`` were already
    accounted for (by this process or the one whose snapshot it continues), so skipping one of
    them again is not counted twice.
    """

    def __init__(self, camera: str, settings: TrackerSettings, snapshot: dict | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.camera = camera
        self.tracker = ByteTrack(settings.track_threshold, settings.match_threshold,
                                 settings.lost_track_frames, settings.min_track_frames)
        self.counter = CameraCounting()
        last_key = last_seq = None
        self.read_id = self.counted_id = STREAM_START
        if snapshot is not None:
            try:
                if snapshot["v"] not in (1, SNAPSHOT_VERSION):
                    raise SnapshotError(f"snapshot version {snapshot['v']!r}")
                self.tracker.load(snapshot["bytetrack"])
                if snapshot["v"] == SNAPSHOT_VERSION:
                    self.counter = CameraCounting.load(snapshot["objects"])
                if snapshot["frame_id"]:
                    last_key, last_seq = order_key(snapshot["frame_id"]), snapshot["seq"]
                self.read_id, self.counted_id = snapshot["resume_id"], snapshot["read_id"]
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise SnapshotError(f"unreadable tracker snapshot: {exc!r}") from exc
        self.buffer = ReorderBuffer(settings.reorder_ms / 1000, settings.reorder_max, last_key,
                                    last_seq, clock, settings.reorder_pending_ms / 1000)
        self.skipped = {"bad_entries": 0, "late_frames": 0}  # not written to Redis yet
        self.dead: list[tuple[str, str]] = []  # (entry id, reason) of bad entries not written yet
        self.shed_logged = False  # boxes over MAX_TRACKED_BOXES are shed, said once per camera

    def add(self, entry_id: str, fields: Fields) -> None:
        """Hold one detections entry for ordering; a malformed or late one is logged, counted
        and skipped."""
        self.read_id = entry_id
        fresh = order_key(entry_id) > order_key(self.counted_id)
        try:
            msg = DetectionMessage.from_fields(fields)
            if msg.camera != self.camera:
                raise MessageError(f"field 'camera' is {msg.camera!r}")
        except MessageError as exc:
            if fresh:
                self._bad(entry_id, str(exc))
            return
        if not self.buffer.push(msg, entry_id) and fresh:
            log.info("camera %s: frame %s came after a later one was tracked: skipped",
                     self.camera, msg.frame_id)
            self._skip("late_frames")

    def _bad(self, entry_id: str, why: str) -> None:
        log.warning("camera %s: skipping detections entry %s: %s", self.camera, entry_id, why)
        self._skip("bad_entries")
        self.dead.append((entry_id, why))

    def _skip(self, reason: str) -> None:
        self.skipped[reason] += 1
        metrics.TRACKER_SKIPPED.labels(self.camera, reason).inc()

    def ready(self, lines: Sequence[LineConfig] = (), zones: Sequence[ZoneConfig] = (),
              counting: CountingConfig = CountingConfig(),
              settled_below: OrderKey | None = None) -> list[TrackedFrame]:
        """Track every frame the reorder buffer releases now, in capture order, under the
        camera's lines, zones and counting rules (``settled_below``: see
        :meth:`ReorderBuffer.pop_ready`)."""
        frames = []
        for msg, stream_id in self.buffer.pop_ready(settled_below):
            try:
                objects = self._shed(kept(msg.objects, msg.width, msg.height, counting),
                                     msg.frame_id)
                tracks = self.tracker.update(objects)
                counted = self.counter.count(tracks, msg.width, msg.height, msg.ts, lines,
                                             zones, counting)
            except Exception as exc:  # one poison frame costs that frame, never the camera
                if order_key(stream_id) > order_key(self.counted_id):
                    self._bad(stream_id, f"{type(exc).__name__}: {exc}")
                continue
            self.counter.forget(self.tracker.live_ids(), zones, counted)
            frames.append(TrackedFrame(
                TrackMessage(self.camera, msg.frame_id, msg.seq, msg.ts, msg.width, msg.height,
                             counted.objects, counted.crossings, counted.occupancy,
                             counted_detections(objects, counting), counted.stays),
                counted))
        return frames

    def _shed(self, objects: list[DetectedObject], frame_id: str) -> list[DetectedObject]:
        """At most :data:`MAX_TRACKED_BOXES` of a frame's boxes, the highest-scoring."""
        if len(objects) <= MAX_TRACKED_BOXES:
            return objects
        if not self.shed_logged:
            self.shed_logged = True
            log.warning("camera %s: frame %s has %d boxes: tracking the %d highest-scoring of "
                        "this and every such frame", self.camera, frame_id, len(objects),
                        MAX_TRACKED_BOXES)
        return sorted(objects, key=lambda obj: obj.score, reverse=True)[:MAX_TRACKED_BOXES]

    def resume_id(self) -> str:
        """Where a successor reads the detections stream from (exclusive): before the oldest
        entry still held, else after the last one read."""
        oldest = self.buffer.oldest_stream_id()
        return before(oldest) if oldest is not None else self.read_id

    def snapshot(self) -> dict[str, Any]:
        """Everything to continue from, as plain JSON values."""
        last = self.buffer.last_key
        return {"v": SNAPSHOT_VERSION, "frame_id": f"{last[0]}-{last[1]}" if last else "",
                "seq": self.buffer.last_seq, "resume_id": self.resume_id(),
                "read_id": self.read_id, "bytetrack": self.tracker.to_dict(),
                "objects": self.counter.to_dict()}

    def take_skipped(self) -> dict[str, int]:
        """The skipped-entry counts not written yet, now handed to the writer."""
        skipped, self.skipped = self.skipped, dict.fromkeys(self.skipped, 0)
        return skipped
