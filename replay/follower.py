"""Following a replay's results as the workers and the tracker write them, until all are in.

The detections and tracks streams are capped, so a long replay's first entries are trimmed before
it ends: :class:`ReplayFollower` reads both streams in a thread from the ids current at the job's
start and keeps the messages of this replay's frames (frame ids after the frame stream's last id
at the start) by ``seq``. They are small JSON entries; frames themselves are decoded again from
the file. :func:`wait_for_results` blocks until the follower holds every result.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import redis

from common.fields import MessageError
from common.keys import Keys
from common.messages import DetectionMessage
from common.stream_ids import StreamId
from common.tracks import TrackMessage
from runtime.outage import REDIS_DOWN
from runtime.redis_conn import read_streams

from .queue import processed_through

log = logging.getLogger("replay.follower")

TRACKS_WAIT_S = 30.0
"""Longest wait for the camera's tracker to reach the last frame once the workers are done."""
POLL_S = 0.1


def last_id(client: redis.Redis, stream: str) -> str:
    """Id of the newest entry of ``stream`` ("0-0" when empty or absent)."""
    newest = client.xrevrange(stream, count=1)
    return newest[0][0].decode() if newest else "0-0"


class ReplayFollower:
    """This replay's detection and track messages by ``seq``, read while it runs."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: str):
        self.client = client
        self.detections_key, self.tracks_key = keys.detections(camera), keys.tracks(camera)
        self.after = StreamId.parse(last_id(client, keys.frames(camera)))
        self.positions = {key: last_id(client, key)
                          for key in (self.detections_key, self.tracks_key)}
        self.detections: dict[int, DetectionMessage] = {}
        self.tracks: dict[int, TrackMessage] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"follow-{camera}", daemon=True)

    def __enter__(self) -> "ReplayFollower":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(5)

    def read_past(self, stream: str, entry_id: str) -> bool:
        """True once the follower has read ``stream`` up to ``entry_id``."""
        return StreamId.parse(self.positions[stream]) >= StreamId.parse(entry_id)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                reply = read_streams(self.client, dict(self.positions), 500, 200)
            except REDIS_DOWN as exc:  # an outage, or a cluster failing over
                log.warning("following the replay: %s; retrying", exc)
                self.stop.wait(0.5)
                continue
            for stream, entries in reply or []:
                stream = stream.decode()
                for entry_id, fields in entries:
                    self.positions[stream] = entry_id.decode()
                    self._keep(stream, fields)

    def _keep(self, stream: str, fields: dict) -> None:
        try:
            if stream == self.detections_key:
                msg = DetectionMessage.from_fields(fields)
                if StreamId.parse(msg.frame_id) > self.after:
                    self.detections[msg.seq] = msg
            else:
                track = TrackMessage.from_fields(fields)
                if StreamId.parse(track.frame_id) > self.after:
                    self.tracks[track.seq] = track
        except MessageError as exc:
            log.warning("skipping an entry of %s: %s", stream, exc)


def until(check: Callable[[], bool]) -> None:
    """Poll ``check`` until it holds, riding out a Redis that goes away meanwhile."""
    while True:
        try:
            if check():
                return
        except REDIS_DOWN as exc:
            log.warning("waiting for the replay's results: %s; retrying", exc)
        time.sleep(POLL_S)


def wait_for_results(client: redis.Redis, keys: Keys, camera: str, last_frame_id: str,
                     follower: ReplayFollower) -> bool:
    """Block until the workers processed every frame up to ``last_frame_id`` and the follower read
    their messages, then (when a tracker owns the camera, at most :data:`TRACKS_WAIT_S`) until
    its tracks reach the last detected frame. Returns whether a tracker owns the camera."""
    until(lambda: processed_through(client, keys, camera, last_frame_id))
    end = last_id(client, keys.detections(camera))  # written before each frame was acked
    until(lambda: follower.read_past(keys.detections(camera), end))
    if not client.exists(keys.tracker_lock(camera)):
        return False
    last_seq = max(follower.detections, default=-1)
    deadline = time.monotonic() + TRACKS_WAIT_S
    while max(follower.tracks, default=-1) < last_seq and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if max(follower.tracks, default=-1) < last_seq:
        log.warning("camera %s: the tracker did not reach frame %d within %.0f s; recording "
                    "the frames it tracked", camera, last_seq, TRACKS_WAIT_S)
    return True
