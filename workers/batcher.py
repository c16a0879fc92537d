"""Collecting batches of frame entries from every camera stream through the consumer group.

A batch closes when it holds ``batch_size`` entries or ``batch_wait_ms`` after its first entry
arrived. Entries left pending by a dead consumer for ``claim_idle_ms`` are taken over with
XAUTOCLAIM and processed like new ones, unless they have been delivered more than
``max_deliveries`` times: such an entry (one that keeps killing workers) is handed back marked,
and the worker dead-letters it without trying it again. A camera key that is not a stream (an
operator's ``SET``) is logged and left out, never a crash.

On Redis Cluster each camera's stream is in its own slot, and no command may span slots: the
streams are read by :func:`common.redis_conn.read_streams`, one non-blocking XREADGROUP per stream
in a pipeline that redis-py splits by node (one round trip per node), polled while idle. Batches
still mix cameras. A stream that moves (resharding, failover) is followed by redis-py's slot map
(MOVED/ASK); while a node is down its reads fail as an outage, and what was read but not
acknowledged is read again after it (:meth:`Batcher.reread_own`) or reclaimed.

A live camera (or a file played in real time: ``CameraConfig.lag_limit_s``) whose frames read
are older than its ``max_lag_s`` is behind: the rest of its stream is read at once, and every
frame of it but the newest is marked ``skipped`` (published with the newest objects carried,
never detected), so detection works on the newest frame and catches up in one step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import redis

from common.fields import MessageError, field_float, text
from common.keys import GROUP, Keys
from common.stream_ids import StreamId
from runtime.camera_list import published_camera_names, valid_camera_json
from runtime.redis_conn import read_streams

log = logging.getLogger("cctv.worker")

CATCH_UP_MAX = 1000
"""Most entries read at once from the stream of a camera that is behind."""


@dataclass(frozen=True)
class Entry:
    """One frame entry read from a camera stream."""

    camera: str
    entry_id: str
    fields: dict
    deliveries: int = 1
    """Times the group has delivered it (XPENDING's count; above 1 only for reclaimed ones)."""
    skipped: bool = False
    """Its camera is behind (a frame read older than ``max_lag_s``) and a newer frame of it was
    read: published with the newest objects carried, not detected."""

    def capture_ts(self) -> float:
        """The frame's capture time; 0 when its field is missing or bad (parsing it fails
        later, with the reason)."""
        try:
            return field_float(self.fields, "ts", 0.0)
        except MessageError:
            return 0.0


class Batcher:
    """Reads batches for consumer ``consumer`` of the workers' group."""

    def __init__(self, client: redis.Redis, keys: Keys, consumer: str, batch_size: int,
                 batch_wait_ms: int, claim_idle_ms: int, idle_block_ms: int = 500,
                 max_deliveries: int = 3):
        self.client, self.keys, self.consumer = client, keys, consumer
        self.batch_size, self.batch_wait_ms, self.claim_idle_ms = batch_size, batch_wait_ms, \
            claim_idle_ms
        self.idle_block_ms, self.max_deliveries = idle_block_ms, max_deliveries
        self.streams: dict[str, str] = {}  # stream key -> camera
        self.wrong_type: set[str] = set()  # camera keys that are not streams (logged once)
        self._next_refresh = 0.0
        self._next_claim = 0.0
        self._own_from: dict[str, str] = {}  # stream -> where to read our own pending from
        self.lag_limits: dict[str, float] = {}  # camera -> max_lag_s, for paced cameras

    def refresh_lag_limits(self) -> None:
        """Each configured camera's ``max_lag_s`` where it applies (live or realtime)."""
        limits = {}
        for name, raw in self.client.hgetall(self.keys.cameras).items():
            config = valid_camera_json(raw, text(name))
            if config is not None and config.lag_limit_s is not None:
                limits[config.name] = config.lag_limit_s
        self.lag_limits = limits

    def refresh_streams(self) -> None:
        """Join the group on every camera stream ingest has registered."""
        for camera in published_camera_names(self.client, self.keys):
            stream = self.keys.frames(camera)
            if stream in self.streams:
                continue
            try:
                self.client.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    self._skip_wrong_type(stream)
                    continue
                if "BUSYGROUP" not in str(exc):
                    raise
            self.wrong_type.discard(stream)
            self.streams[stream] = camera

    def _skip_wrong_type(self, stream: str) -> None:
        if stream not in self.wrong_type:
            log.error("key %s is not a stream (it holds a %s): camera %s left out until it is "
                      "deleted", stream, self.client.type(stream).decode(),
                      self.streams.get(stream, stream))
        self.wrong_type.add(stream)
        self.streams.pop(stream, None)

    def next_batch(self) -> list[Entry]:
        """Up to about ``batch_size`` entries (reclaimed ones first); [] after an idle wait."""
        now = time.monotonic()
        if now >= self._next_refresh:
            self.refresh_streams()
            self.refresh_lag_limits()
            self._next_refresh = now + 1.0
        if not self.streams:
            time.sleep(self.idle_block_ms / 1000)
            return []
        if self._own_from:
            return self._own_pending()
        batch: list[Entry] = []
        if now >= self._next_claim:
            batch += self.reclaim()
            self._next_claim = now + min(1.0, self.claim_idle_ms / 2000)
        deadline = None
        while len(batch) < self.batch_size:
            if batch and deadline is None:
                deadline = time.monotonic() + self.batch_wait_ms / 1000
            block = self.idle_block_ms if deadline is None else \
                int((deadline - time.monotonic()) * 1000)
            if block < 1 and deadline is not None:
                break
            per_stream = max(1, (self.batch_size - len(batch)) // len(self.streams))
            try:
                reply = read_streams(self.client, dict.fromkeys(self.streams, ">"), per_stream,
                                     block, group=(GROUP, self.consumer))
            except redis.ResponseError as exc:
                self._recover(exc)
                break
            got = self._entries(reply)
            if not got and deadline is None:
                break
            batch += got
        return self._skip_stale(batch)

    def _skip_stale(self, batch: list[Entry]) -> list[Entry]:
        """``batch`` with the rest of each lagging camera's stream, its frames but the newest
        marked skipped."""
        now = time.time()
        lagging = {e.camera for e in batch if e.camera in self.lag_limits
                   and now - e.capture_ts() > self.lag_limits[e.camera]}
        if not lagging:
            return batch
        streams = {self.keys.frames(camera): ">" for camera in lagging}
        try:
            batch += self._entries(read_streams(self.client, streams, CATCH_UP_MAX, 1,
                                                group=(GROUP, self.consumer)))
        except redis.ResponseError as exc:
            self._recover(exc)
        newest = {}
        for entry in batch:
            if entry.camera in lagging:
                newest[entry.camera] = max(newest.get(entry.camera, entry.entry_id),
                                           entry.entry_id, key=StreamId.parse)
        return [replace(e, skipped=True) if e.camera in lagging and e.entry_id != newest[e.camera]
                else e for e in batch]

    def reread_own(self) -> None:
        """After a Redis outage: the next batches are this consumer's own pending entries (read,
        never acknowledged: their results were lost with the connection), at once rather than
        after ``claim_idle_ms``."""
        self._own_from = dict.fromkeys(self.streams, "0")

    def _own_pending(self) -> list[Entry]:
        stream = next(iter(self._own_from))
        try:
            reply = self.client.xreadgroup(GROUP, self.consumer, {stream: self._own_from[stream]},
                                           count=self.batch_size)
        except redis.ResponseError as exc:
            del self._own_from[stream]
            self._recover(exc)
            return []
        items = reply[0][1] if reply else []
        if not items:
            del self._own_from[stream]
            return []
        self._own_from[stream] = items[-1][0].decode()
        camera = self.streams[stream]
        batch = []
        for entry_id, fields in items:
            if fields:
                batch.append(Entry(camera, entry_id.decode(), fields))
            else:  # trimmed away meanwhile
                self.client.xack(stream, GROUP, entry_id)
        if batch:
            log.info("reading again %d frames of ours left pending by the outage", len(batch))
        return batch

    def _recover(self, exc: redis.ResponseError) -> None:
        """A camera stream or its group was deleted under us (``DEL``, ``XGROUP DESTROY``, a
        flushed Redis): join every stream again (which re-creates them) instead of failing. A
        stream replaced by another type is left out."""
        if "WRONGTYPE" in str(exc):
            for stream in list(self.streams):
                if self.client.type(stream) not in (b"stream", b"none"):
                    self._skip_wrong_type(stream)
            return
        if "NOGROUP" not in str(exc):
            raise exc
        log.warning("a camera stream or its consumer group was deleted: joining the streams again")
        self.streams.clear()
        self.refresh_streams()

    def _entries(self, reply) -> list[Entry]:
        out = []
        for stream, items in reply or []:
            camera = self.streams[stream.decode()]
            for entry_id, fields in items:
                out.append(Entry(camera, entry_id.decode(), fields or {}))
        return out

    def reclaim(self) -> list[Entry]:
        """Take over entries idle for ``claim_idle_ms`` on other (dead) consumers."""
        claimed: list[Entry] = []
        for stream, camera in list(self.streams.items()):
            try:
                reply = self.client.xautoclaim(stream, GROUP, self.consumer, self.claim_idle_ms,
                                               start_id="0-0", count=self.batch_size)
            except redis.ResponseError as exc:
                self._recover(exc)
                return claimed
            entries = []
            for entry_id, fields in reply[1]:
                if entry_id is None:  # trimmed away: Redis 7 took it out of the group itself
                    continue
                if fields is None:  # trimmed away before anyone processed it
                    self.client.xack(stream, GROUP, entry_id)
                    continue
                entries.append(Entry(camera, entry_id.decode(), fields))
            claimed += self._with_deliveries(stream, entries)
        if claimed:
            log.info("reclaimed %d pending frames from dead consumers", len(claimed))
        return claimed

    def _with_deliveries(self, stream: str, entries: list[Entry]) -> list[Entry]:
        """``entries`` with their delivery counts (XPENDING), as claimed just now."""
        if not entries:
            return entries
        pipe = self.client.pipeline(transaction=False)
        for entry in entries:
            pipe.xpending_range(stream, GROUP, min=entry.entry_id, max=entry.entry_id, count=1)
        return [replace(e, deliveries=int(p[0]["times_delivered"]) if p else 1)
                for e, p in zip(entries, pipe.execute())]
