"""The Redis index of recording segments: written by ingest as each segment closes, listed by
whoever plays recordings, rebuilt from the files when ingest starts.

Files lie under ``<recordings dir>/<camera>/<YYYY-MM-DD>/<HH>/<start_ms>.mp4`` (UTC); a segment
being written is ``<start_ms>.mp4.part`` and is not indexed. A camera's index is one sorted set
(:meth:`~common.keys.Keys.recordings`) of :class:`Segment` JSON records scored by start time, and
its bytes are kept in :meth:`~common.keys.Keys.recording_bytes`, so listings and retention never
scan the disk. A path read from Redis is confined to the recordings folder before any read or
delete.

Retention is by age and size (:func:`enforce_retention`) and, for a camera recorded only for its
events' clips, by what those events need (:class:`EventRetention`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import av
import redis

from common.events import Event
from common.fields import text
from common.keys import Keys
from common.records import TRACKED_FRAME_FIELD
from common.stream_ids import StreamId

from .event_store import camera_events, load_event
from .logging_setup import warn_once
from .paths import OutsideFolder, confined

log = logging.getLogger("cctv.recordings")

SEGMENT_SUFFIX = ".mp4"
OPEN_SUFFIX = ".mp4.part"
"""A segment being written; renamed to ``.mp4`` once closed (or salvaged by a rebuild)."""
RECORDING_ERROR_FIELD = "recording_error"
"""The field of the camera's ingest state hash saying why recording fails (a full disk...);
absent while it works."""
EVENTS_GRACE_S = 120.0
"""A segment of a camera recorded only for its events is kept this long after it ended whatever
the events say: it covers the tracker's ``event_pre_s`` (60 s at most) and its lag behind the
frames (an event is stored a little after its first frame)."""
TRACKER_WAIT_MAX_S = 3600.0
"""How far behind (or how long gone) a tracker an events-only camera's segments wait for: a
segment the tracker has not yet passed may still get an event; past this, retention goes on
without it (the caps hold anyway)."""


@dataclass(frozen=True)
class Segment:
    """One closed segment: Unix seconds of its first and past its last frame, its path relative
    to the recordings folder, its size, codec and resolution."""

    camera: str
    start_ts: float
    end_ts: float
    path: str
    bytes: int
    codec: str
    width: int
    height: int

    def to_json(self) -> str:
        """The sorted-set member (stable: equal segments give equal members)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Segment:
        data = json.loads(text(raw))
        return cls(camera=str(data["camera"]), start_ts=float(data["start_ts"]),
                   end_ts=float(data["end_ts"]), path=str(data["path"]),
                   bytes=int(data["bytes"]), codec=str(data["codec"]),
                   width=int(data["width"]), height=int(data["height"]))


def segment_path(camera: str, start_ms: int) -> str:
    """The closed segment's path relative to the recordings folder, from its start (UTC)."""
    hour = time.strftime("%Y-%m-%d/%H", time.gmtime(start_ms / 1000))
    return f"{camera}/{hour}/{start_ms}{SEGMENT_SUFFIX}"


def probe_segment(root: Path, camera: str, path: Path) -> Segment:
    """The segment record of the MP4 file ``path`` (named ``<start_ms>.mp4``): duration, codec
    and resolution read by demuxing it with PyAV (nothing decoded). :class:`ValueError` or
    ``av.FFmpegError`` when it holds no video."""
    start_ms = int(path.name.removesuffix(SEGMENT_SUFFIX))
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path.name}: no video stream")
        stream = container.streams.video[0]
        first = end = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else min(first, packet.pts)
            end = max(end or 0, packet.pts + (packet.duration or 0))
        if first is None or stream.time_base is None:
            raise ValueError(f"{path.name}: no frames")
        duration = float((end - first) * stream.time_base)
        context = stream.codec_context
        return Segment(camera=camera, start_ts=start_ms / 1000,
                       end_ts=round(start_ms / 1000 + duration, 3),
                       path=path.relative_to(root).as_posix(), bytes=path.stat().st_size,
                       codec=context.name, width=context.width, height=context.height)


def add_segment(client: redis.Redis, keys: Keys, segment: Segment) -> None:
    """Index a closed segment."""
    pipe = client.pipeline(transaction=False)  # two slots on a cluster
    pipe.zadd(keys.recordings(segment.camera), {segment.to_json(): segment.start_ts})
    pipe.hincrby(keys.recording_bytes, segment.camera, segment.bytes)
    pipe.execute()


def list_segments(client: redis.Redis, keys: Keys, camera: str, after: float | None = None,
                  before: float | None = None) -> list[Segment]:
    """The camera's segments that overlap ``after``..``before`` (Unix seconds; None: open ended),
    oldest first."""
    key = keys.recordings(camera)
    low = "-inf" if after is None else after
    high = "+inf" if before is None else f"({before}"
    members = client.zrangebyscore(key, low, high)
    if after is not None:  # the one segment begun before ``after`` may still run into it
        members = client.zrevrangebyscore(key, f"({after}", "-inf", start=0, num=1) + members
    segments = [Segment.from_json(m) for m in members]
    return [s for s in segments if after is None or s.end_ts > after]


def segment_files(root: Path, segments: Iterable[Segment]) -> list[tuple[Path, float]]:
    """Each segment's file under ``root`` with its start time (Unix seconds), in order; a
    segment whose indexed path leaves ``root`` is logged and skipped."""
    files = []
    for segment in segments:
        try:
            files.append((confined(root, segment.path), segment.start_ts))
        except OutsideFolder:
            log.warning("recording index of %s names a path outside %s", segment.camera, root)
    return files


def recorded_bytes(client: redis.Redis, keys: Keys, camera: str | None = None) -> int:
    """Bytes of ``camera``'s indexed segments, or of every camera's."""
    if camera is not None:
        return int(client.hget(keys.recording_bytes, camera) or 0)
    return sum(int(v) for v in client.hvals(keys.recording_bytes))


def oldest_segment(client: redis.Redis, keys: Keys, camera: str) -> Segment | None:
    """The camera's first segment, or None."""
    members = client.zrange(keys.recordings(camera), 0, 0)
    return Segment.from_json(members[0]) if members else None


def delete_segment(client: redis.Redis, keys: Keys, root: Path, segment: Segment) -> None:
    """Remove the segment from the index and its file from the disk (an empty hour or day
    folder with it); a path that leaves the recordings folder is dropped from the index only."""
    pipe = client.pipeline(transaction=False)
    pipe.zrem(keys.recordings(segment.camera), segment.to_json())
    pipe.hincrby(keys.recording_bytes, segment.camera, -segment.bytes)
    removed, _ = pipe.execute()
    if not removed:  # someone else deleted it first
        client.hincrby(keys.recording_bytes, segment.camera, segment.bytes)
        return
    try:
        path = confined(root, segment.path)
    except OutsideFolder:
        log.warning("recording index of %s named a path outside %s; dropped", segment.camera,
                    root)
        return
    path.unlink(missing_ok=True)
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone)
            break


def enforce_retention(client: redis.Redis, keys: Keys, root: Path, camera: str,
                      retain_s: float, max_bytes: int | None, total_max_bytes: int | None,
                      headroom: int = 0, now: float | None = None) -> int:
    """Delete the oldest segments until the camera's are all younger than ``retain_s``, its bytes
    plus ``headroom`` (the next segment's expected size) fit ``max_bytes`` and every camera's
    together fit ``total_max_bytes`` (the oldest of any camera first). Returns segments deleted."""
    now = time.time() if now is None else now
    deleted = 0
    while (oldest := oldest_segment(client, keys, camera)) is not None:
        over = max_bytes is not None and recorded_bytes(client, keys, camera) + headroom > max_bytes
        if not over and oldest.end_ts >= now - retain_s:
            break
        delete_segment(client, keys, root, oldest)
        deleted += 1
    while total_max_bytes is not None and recorded_bytes(client, keys) + headroom > total_max_bytes:
        firsts = [s for name in client.hkeys(keys.recording_bytes)
                  if (s := oldest_segment(client, keys, text(name))) is not None]
        if not firsts:
            break
        delete_segment(client, keys, root, min(firsts, key=lambda s: s.start_ts))
        deleted += 1
    return deleted


def clip_range(event: Event) -> tuple[float, float] | None:
    """The event's ``recorded_clip`` as (from, to) Unix seconds; None when it has none (or the
    record's is malformed)."""
    try:
        start, end = event.recorded_clip or ()
        return float(start), float(end)
    except (TypeError, ValueError):
        return None


class EventRetention:
    """Retention of a camera recorded only for its events' clips: a closed segment that ended
    more than :data:`EVENTS_GRACE_S` before now and before the tracker's last frame (a tracker
    behind or stopped is waited for up to :data:`TRACKER_WAIT_MAX_S`) is deleted unless an
    event's clip range overlaps it (an ended event's ``recorded_clip``; an open event whose label
    gets clips, ``clips_for(label)``, holds every segment from :data:`EVENTS_GRACE_S` before its
    start on, until it ends).

    Each segment is decided once, oldest first: a pass reads only the segments after the last
    one decided and the events that started from then on (the index by time), so a camera with
    many events is no slower to close a segment. The first pass of a process reads them all."""

    def __init__(self, camera: str, clips_for: Callable[[str], bool]):
        self.camera, self.clips_for = camera, clips_for
        self.decided: float | None = None  # start of the last segment decided

    def enforce(self, client: redis.Redis, keys: Keys, root: Path,
                now: float | None = None) -> int:
        """Delete the segments no event needs that are due; returns how many."""
        now = time.time() if now is None else now
        held = [e.start_ts for i in client.smembers(keys.open_events(self.camera))
                if (e := load_event(client, keys, text(i))) is not None
                and self.clips_for(e.label)]
        tracked = max(self._tracked_until(client, keys), now - TRACKER_WAIT_MAX_S)
        due = min([now, tracked, *held]) - EVENTS_GRACE_S
        low = "-inf" if self.decided is None else f"({self.decided!r}"
        segments = []
        for member in client.zrangebyscore(keys.recordings(self.camera), low, f"({due!r}"):
            try:
                segment = Segment.from_json(member)
            except (ValueError, KeyError, TypeError) as exc:
                warn_once(log, f"recording index of {self.camera}: bad record ({exc}): ignored")
                continue
            if segment.end_ts > due:
                break
            segments.append(segment)
        if not segments:
            return 0
        after = None if self.decided is None else self.decided - EVENTS_GRACE_S
        clips = sorted(clip for e in camera_events(client, keys, self.camera, after,
                                                   segments[-1].end_ts + EVENTS_GRACE_S)
                       if (clip := clip_range(e)) is not None)
        deleted, reach, i = 0, -math.inf, 0
        for segment in segments:  # both in time order: one walk
            while i < len(clips) and clips[i][0] < segment.end_ts:
                reach = max(reach, clips[i][1])  # the furthest end of clips begun before its end
                i += 1
            if reach <= segment.start_ts:
                delete_segment(client, keys, root, segment)
                deleted += 1
        self.decided = segments[-1].start_ts
        return deleted

    def _tracked_until(self, client: redis.Redis, keys: Keys) -> float:
        """When the last frame the tracker took was published (its entry id's time; -inf when
        it took none, or its record does not parse): its events cannot start after that."""
        raw = client.hget(keys.tracker_state(self.camera), TRACKED_FRAME_FIELD)
        try:
            return StreamId.parse(text(raw)).ms / 1000 if raw is not None else -math.inf
        except (ValueError, OverflowError):
            return -math.inf


def rebuild_index(client: redis.Redis, keys: Keys, recordings_dir: Path,
                  camera: str) -> list[Segment]:
    """Make the camera's index match its folder: segments still on disk with their size unchanged
    keep their record, others are read with PyAV; a segment left open by a process that died
    is kept (renamed ``.mp4``) when it plays up to a fragment, else deleted, as is a closed file
    that does not play. Returns the index, oldest first."""
    root = recordings_dir.resolve()
    known = {s.path: s for s in list_segments(client, keys, camera)}
    segments: list[Segment] = []
    folder = root / camera
    for path in sorted(folder.glob(f"*/*/*{OPEN_SUFFIX}")):
        closed = path.with_name(path.name.removesuffix(".part"))
        path.rename(closed)
        log.info("camera %s: salvaging segment %s left open", camera, closed.name)
    for path in sorted(folder.glob(f"*/*/*{SEGMENT_SUFFIX}")):
        name = path.relative_to(root).as_posix()
        indexed = known.get(name)
        if indexed is not None and indexed.bytes == path.stat().st_size:
            segments.append(indexed)
            continue
        try:
            segments.append(probe_segment(root, camera, path))
        except (ValueError, av.FFmpegError, OSError) as exc:
            log.warning("camera %s: deleting unplayable segment %s (%s)", camera, name, exc)
            path.unlink(missing_ok=True)
    segments.sort(key=lambda s: s.start_ts)
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.recordings(camera))
    if segments:
        pipe.zadd(keys.recordings(camera), {s.to_json(): s.start_ts for s in segments})
    pipe.execute()
    client.hset(keys.recording_bytes, camera, sum(s.bytes for s in segments))
    return segments
