"""Writing one camera's frames to its capped stream, with drop accounting and backpressure.

Each XADD runs in a MULTI with ``XINFO GROUPS`` (before) and ``XLEN`` (after), so the publisher
knows exactly which of its entries the ``MAXLEN ~`` trim removed and whether the
worker group had been handed each of them: a trimmed entry never handed out is a dropped frame.
A source with backpressure (files) instead waits, before adding, until fewer than ``maxlen``
of its entries are still undelivered, and trims (``XTRIM MINID ~``) only below its oldest
unfinished entry (pending on a worker, or not delivered yet): a hung worker holds back only the
frames it holds, never the stream, and no frame a worker still has to process is trimmed. (The
stream then grows past ``maxlen`` by what was processed after a hung worker's oldest frame,
until that frame is reclaimed after ``claim_idle_ms``.) While a tracker holds the camera's lock,
the trim also stays below the last frame it tracked and the oldest one its events' snapshots
still read (:data:`common.records.FRAMES_NEEDED_FIELD`); without a tracker, the workers'
position alone bounds it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, TypeVar

import redis

from common.fields import text
from common.keys import GROUP, Keys
from common.records import FRAMES_NEEDED_FIELD, TRACKED_FRAME_FIELD
from common.stream_ids import StreamId

T = TypeVar("T")


def ensure_group(client: redis.Redis, keys: Keys, camera: str) -> None:
    """Create the camera's stream and the workers' group (from the start) if missing."""
    try:
        client.xgroup_create(keys.frames(camera), GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    client.sadd(keys.camera_names, camera)


class StreamPublisher:
    """Appends frames to ``keys.frames(camera)`` capped at about ``maxlen`` entries."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: str, maxlen: int):
        self.client, self.keys, self.camera, self.maxlen = client, keys, camera, maxlen
        self.stream = keys.frames(camera)
        self._ids: deque[StreamId] = deque()
        self._positions: tuple[StreamId, StreamId | None, StreamId | None] | None = None
        ensure_group(client, keys, camera)
        self._floor = self._newest()  # new ids go after this (another run's entries)

    def _group_positions(self) -> tuple[StreamId, StreamId | None, StreamId | None]:
        """(last id handed to the group, oldest unacknowledged id or None, the tracker's
        oldest needed id or None when no tracker holds the camera)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xinfo_groups(self.stream)
        pipe.xpending(self.stream, GROUP)
        pipe.exists(self.keys.tracker_lock(self.camera))
        pipe.hmget(self.keys.tracker_state(self.camera), TRACKED_FRAME_FIELD, FRAMES_NEEDED_FIELD)
        groups, pending, tracked, (tracked_id, needed_id) = pipe.execute()
        last = self._last_delivered(groups)
        if isinstance(pending, list):  # redis-py's cluster MULTI leaves replies unparsed
            pending = {"pending": pending[0], "min": pending[1]}
        oldest = StreamId.parse(pending["min"]) if pending and pending.get("pending") else None
        return last, oldest, self._tracker_needs(tracked, tracked_id, needed_id)

    @staticmethod
    def _tracker_needs(tracked: int, tracked_id: bytes | None,
                       needed_id: bytes | None) -> StreamId | None:
        """The oldest frame the camera's tracker may still read (None without a tracker; the
        stream's start while it has tracked nothing yet; a field that is not an id is left out)."""
        if not tracked:
            return None
        ids = []
        for raw in (tracked_id, needed_id):
            try:
                if raw is not None:
                    ids.append(StreamId.parse(raw))
            except ValueError:
                continue  # not an id: the other bounds still hold
        return min(ids, default=StreamId(0, 0))

    @staticmethod
    def _last_delivered(groups: list[dict]) -> StreamId:
        for group in groups:
            # keys are str, or bytes from redis-py's cluster MULTI (replies left unparsed)
            group = {text(k): v for k, v in group.items()}
            if text(group["name"]) == GROUP:
                return StreamId.parse(group["last-delivered-id"])
        return StreamId(0, 0)

    def _rejoining(self, call: Callable[[], T]) -> T:
        """``call()``; once more after joining again if the stream or its group is gone (deleted,
        or lost with a Redis restarted without persistence)."""
        try:
            return call()
        except redis.ResponseError as exc:
            if "no such key" not in str(exc) and "NOGROUP" not in str(exc):
                raise
            self.resync()
            return call()

    def undelivered(self) -> int:
        """How many of this publisher's entries the group has not handed to a worker yet."""
        last, *_ = self._positions = self._rejoining(self._group_positions)
        return sum(1 for i in self._ids if i > last)

    def wait_for_room(self, stop: threading.Event, poll_s: float = 0.01) -> bool:
        """Block while ``maxlen`` or more entries are undelivered; False if stopped."""
        self._positions = None
        while len(self._ids) >= self.maxlen and self.undelivered() >= self.maxlen:
            if stop.wait(poll_s):
                return False
        return True

    def _trim_below(self) -> str | None:
        """Where a file's stream may be trimmed: below the newest ``maxlen`` entries of ours,
        but never at or above its oldest unfinished one nor what its tracker still reads
        (None: nothing to trim)."""
        if self._positions is None or len(self._ids) < self.maxlen:
            return None
        last, oldest_pending, tracker_needs = self._positions
        first_new = next((i for i in self._ids if i > last), None)
        bound = min(i for i in (oldest_pending, first_new, tracker_needs,
                                self._ids[-self.maxlen + 1]) if i is not None)
        return str(bound) if bound > StreamId(0, 0) else None

    def new_id(self) -> str:
        """An entry id for the next add, after every id of ours (its ms part is now, as
        ``*`` would give): a file's frame keeps it through retries, so an add is never doubled."""
        now = int(time.time() * 1000)
        last = max(self._ids[-1] if self._ids else StreamId(0, 0), self._floor)
        return str(StreamId(now, 0) if now > last.ms else last.next())

    def landed(self, entry_id: str) -> bool:
        """Whether an add of ``entry_id`` whose reply was lost made it (as remembered if so)."""
        if not self.client.xrange(self.stream, min=entry_id, max=entry_id):
            return False
        if not self._ids or self._ids[-1] < StreamId.parse(entry_id):
            self._ids.append(StreamId.parse(entry_id))
        return True

    def _newest(self) -> StreamId:
        newest = self.client.xrevrange(self.stream, count=1)
        return StreamId.parse(newest[0][0]) if newest else StreamId(0, 0)

    def _after_top(self) -> str:
        """An id after the stream's newest entry (ours were overtaken: a clock that went back)."""
        self._floor = self._newest()
        return self.new_id()

    def resync(self) -> None:
        """After a Redis outage: the group again (gone with a restart without persistence), and
        forget entries of ours that are no longer in the stream."""
        ensure_group(self.client, self.keys, self.camera)
        self._floor = self._newest()
        first = self.client.xrange(self.stream, count=1)
        first_id = StreamId.parse(first[0][0]) if first else None
        while self._ids and (first_id is None or self._ids[0] < first_id):
            self._ids.popleft()

    def publish(self, fields: dict, keep_unfinished: bool = False,
                entry_id: str = "*") -> tuple[str, int]:
        """XADD one frame; returns (entry id, frames dropped by this add's trim).

        A live camera's add trims to ``maxlen``; with ``keep_unfinished`` (a file, after
        :meth:`wait_for_room`) the trim spares every entry a worker has still to process.
        ``entry_id`` (from :meth:`new_id`) makes a repeated add of a frame a no-op: an add whose
        reply was lost may still be carried out after the retry's :meth:`landed` said no (a
        stopped Redis runs what it had read once it resumes).
        """
        try:
            return self._publish(fields, keep_unfinished, entry_id)
        except redis.ResponseError as exc:
            if entry_id == "*" or "equal or smaller" not in str(exc):
                raise
        if self.landed(entry_id):
            return entry_id, 0
        return self._publish(fields, keep_unfinished, self._after_top())

    def _publish(self, fields: dict, keep_unfinished: bool, entry_id: str) -> tuple[str, int]:
        trim_below = self._trim_below() if keep_unfinished else None

        def add() -> list:
            pipe = self.client.pipeline(transaction=True)
            pipe.xinfo_groups(self.stream)
            # nomkstream: a stream gone with its group is not re-made here, but joined again
            if keep_unfinished:
                pipe.xadd(self.stream, fields, id=entry_id, nomkstream=True)
                if trim_below is not None:
                    pipe.xtrim(self.stream, minid=trim_below, approximate=True)
            else:
                pipe.xadd(self.stream, fields, id=entry_id, maxlen=self.maxlen,
                          approximate=True, nomkstream=True)
            pipe.xlen(self.stream)
            return pipe.execute()
        groups, added, *_, length = self._rejoining(add)
        entry_id = text(added)
        self._ids.append(StreamId.parse(entry_id))
        last = self._last_delivered(groups)
        dropped = 0
        # trims take the oldest entries first and only we add here: the stream ends with the
        # newest ``length`` of ours (reading its first entry's id would send its JPEG too)
        for _ in range(len(self._ids) - length):
            if self._ids.popleft() > last:
                dropped += 1
        return entry_id, dropped


class RateMeter:
    """Frames per second over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 2.0):
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()
        span = now - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0
