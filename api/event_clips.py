"""Event clips cut from the camera's recording: an ended event that wants a clip has
``recorded_clip`` (``[from_ts, to_ts]``, set by the tracker) and has a clip while the recording's
indexed segments cover that range. It is made on its first request by stream copy
(:func:`media.remux.remux_range`: the camera's own codec and resolution, cut at the keyframe at or
before ``from_ts``) and cached as the record's ``clip`` under the media folder, so the cache goes
with the event (event retention) and every other second of video stays in the recording alone.

A segment is indexed once it closes, so right after an event ends its range's end is usually not
recorded yet: :meth:`EventClips.retry_after` says how long until the segment holding it closes
(the clip route answers 503 with ``Retry-After``). Past that, a range no segment covers is no
clip, with the reason: the camera was not recorded then, or retention deleted it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import av
import redis

from common.events import Event
from common.keys import Keys
from common.record_config import RecordConfig
from media.remux import NothingToCopy, Source, remux_range
from runtime.camera_list import stored_camera
from runtime.files import replacing
from runtime.paths import OutsideFolder, confined
from runtime.recordings import list_segments, oldest_segment, segment_files

log = logging.getLogger("cctv.api.event_clips")

NOT_YET = "its recording does not reach the event's end yet (its segment is still being written)"
NOT_RECORDED = "the camera was not recorded at that time"
DELETED = ("no recording of that time is kept: the camera's recordings start later (deleted by "
           "retention, or not recorded then)")
NONE_KEPT = "no recording of the camera is kept (never recorded, or all deleted by retention)"
NO_RECORDINGS_DIR = "this server reads no recordings"
UNREADABLE = "its recording cannot be read (logged)"
CLOSE_MARGIN_S = 10.0
"""How long past ``segment_s`` after a range's end its segment may still close and be indexed:
a segment ends at the first keyframe ``segment_s`` after it began (a keyframe interval later),
then it is written and indexed."""


class EventClips:
    """Checks and cuts the recorded clips of events, reading the index through ``client`` and
    segments under ``recordings_dir`` (None: no recording is read), caching under ``media_dir``."""

    def __init__(self, client: redis.Redis, keys: Keys, media_dir: Path,
                 recordings_dir: Path | None):
        self.client, self.keys = client, keys
        self.media_root = media_dir.resolve()
        self.recordings_root = recordings_dir.resolve() if recordings_dir else None

    def checked(self, event: Event) -> Event:
        """``event`` as it stands now: a recorded clip its recording does not (or not yet)
        cover is no clip (``has_clip`` false), with the reason in ``media_errors``."""
        if event.recorded_clip is None or event.clip is None:
            return event
        why = self._missing(event) if self.recordings_root else NO_RECORDINGS_DIR
        if why is None:
            return event
        return dataclasses.replace(event, clip=None, media_errors={**event.media_errors,
                                                                   "clip": why})

    def cached(self, event: Event) -> Event:
        """The stored ``event`` :meth:`checked`, its recorded clip cut into the cache if it is
        not there yet; a clip that cannot be cut is none, with the reason. The cached copy of a
        recording retention deleted goes too."""
        if event.recorded_clip is None or event.clip is None:
            return event
        current = self.checked(event)
        try:
            path = confined(self.media_root, event.clip)
        except OutsideFolder:
            return current  # refused by the route as any name outside the media folder
        if current.clip is None:
            if current.media_errors["clip"] == DELETED:
                path.unlink(missing_ok=True)
            return current
        if not path.is_file():
            try:
                self._cut(event, path)
            except (NothingToCopy, av.FFmpegError, OSError) as exc:
                log.warning("event %s: clip not cut from the recording: %s", event.id, exc)
                return dataclasses.replace(event, clip=None, media_errors={
                    **event.media_errors, "clip": UNREADABLE})
        return current

    def retry_after(self, event: Event) -> int:
        """Whole seconds until the segment holding the end of ``event``'s recorded range should
        be closed and indexed (at least 1): ``segment_s`` and :data:`CLOSE_MARGIN_S` after it."""
        return max(1, math.ceil(self._closes_by(event) - time.time()))

    def _closes_by(self, event: Event) -> float:
        config = stored_camera(self.client, self.keys, event.camera)
        segment_s = (config.record if config is not None else RecordConfig()).segment_s
        return event.recorded_clip[1] + segment_s + CLOSE_MARGIN_S

    def _missing(self, event: Event) -> str | None:
        """Why the recording does not cover the event's clip range, or None when it does (a
        range recorded in part is a shorter clip)."""
        from_ts, to_ts = event.recorded_clip
        segments = list_segments(self.client, self.keys, event.camera, from_ts, to_ts)
        if segments and segments[-1].end_ts >= to_ts:
            return None
        if time.time() < self._closes_by(event):
            return NOT_YET
        if segments:
            return None
        oldest = oldest_segment(self.client, self.keys, event.camera)
        if oldest is None:
            return NONE_KEPT
        # retention deletes a camera's oldest segments: a range before the oldest kept one was
        # deleted; one after it that no segment covers was never recorded
        return DELETED if oldest.start_ts >= to_ts else NOT_RECORDED

    def _cut(self, event: Event, path: Path) -> None:
        from_ts, to_ts = event.recorded_clip
        segments = list_segments(self.client, self.keys, event.camera, from_ts, to_ts)
        sources = [Source(file, zero_ts)
                   for file, zero_ts in segment_files(self.recordings_root, segments)]
        with replacing(path) as partial:
            remux_range(sources, from_ts, to_ts, partial)
