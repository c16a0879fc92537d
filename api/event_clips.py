"""Event clips cut from the camera's recording: an event whose record has ``recorded_clip``
(``[from_ts, to_ts]``, set by the tracker for a camera that records) has a clip while the
recording's indexed segments cover that range. It is made on its first request by stream copy
(:func:`media.remux.remux_range`: the camera's own codec and resolution, cut at the keyframe at or
before ``from_ts``) and cached as the record's ``clip`` under the media folder, so the cache goes
with the event (event retention) and every other second of video stays in the recording alone.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import av
import redis

from common.events import Event
from common.keys import Keys
from media.remux import NothingToCopy, Source, remux_range
from runtime.files import replacing
from runtime.paths import OutsideFolder, confined
from runtime.recordings import Segment, list_segments, segment_files

log = logging.getLogger("cctv.api.event_clips")

DELETED = "its recording was deleted by retention"
NOT_YET = "its recording does not reach the event's end yet (its segment is still being written)"
NO_RECORDINGS_DIR = "this server reads no recordings"
UNREADABLE = "its recording cannot be read (logged)"


class EventClips:
    """Checks and cuts the recorded clips of events, reading the index through ``client`` and
    segments under ``recordings_dir`` (None: no recording is read), caching under ``media_dir``."""

    def __init__(self, client: redis.Redis, keys: Keys, media_dir: Path,
                 recordings_dir: Path | None):
        self.client, self.keys = client, keys
        self.media_root = media_dir.resolve()
        self.recordings_root = recordings_dir.resolve() if recordings_dir else None

    def checked(self, event: Event) -> Event:
        """``event`` as it stands now: a recorded clip its recording no longer (or not yet)
        covers is no clip (``has_clip`` false), with the reason in ``media_errors``."""
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

    def _missing(self, event: Event) -> str | None:
        """Why the recording does not cover the event's clip range, or None when it does."""
        from_ts, to_ts = event.recorded_clip
        segments = list_segments(self.client, self.keys, event.camera, from_ts, to_ts)
        if not segments:  # the tracker saw the camera recording: only retention removes them
            return DELETED
        last = segments[-1]
        if last.end_ts < to_ts and self._still_recording(event.camera, last):
            return NOT_YET
        return None

    def _still_recording(self, camera: str, last: Segment) -> bool:
        """Whether ``last`` is the camera's newest segment and the next one may still close:
        within two segments' length of its end (after that, the recording stopped there)."""
        newer = list_segments(self.client, self.keys, camera, last.end_ts, None)
        if any(s.start_ts >= last.end_ts for s in newer):
            return False
        return time.time() < last.end_ts + 2 * (last.end_ts - last.start_ts) + 1.0

    def _cut(self, event: Event, path: Path) -> None:
        from_ts, to_ts = event.recorded_clip
        segments = list_segments(self.client, self.keys, event.camera, from_ts, to_ts)
        sources = [Source(file, zero_ts)
                   for file, zero_ts in segment_files(self.recordings_root, segments)]
        with replacing(path) as partial:
            remux_range(sources, from_ts, to_ts, partial)
