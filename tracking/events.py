"""Events from tracked frames: one per object that counts, ``new`` when it first counts,
``update`` when it enters a zone, crosses a line or gets a clearly better snapshot (throttled),
``end`` once it has not been seen for ``end_after_s`` of capture time.

:class:`EventBuilder` is pure: it reads each tracked frame and returns what changed, with the
snapshot jobs for :mod:`tracking.event_media`. Its open events are kept in Redis
(``cctv:events-open:{cam}``), so a tracker taking a camera over continues them under the same ids
(and takes the snapshot of one that has none at the object's next frame).

A record names a snapshot only once the file is written (by the media thread); one that cannot be
made leaves the name out and says why in ``media_errors``; an event's ``end`` is written by the
media thread behind its queued snapshots. The tracker writes no video: an ended event that wants
a clip names, with its ``end``, the range of the camera's recording its clip is
(``recorded_clip``: ``pre_s`` before the start to ``post_s`` after the end) and the clip's cache
name, and the API cuts it from the recording on request (:mod:`api.event_clips`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import redis

from common.cameras import EventsConfig
from common.event_changes import ChangeKind, EventChange
from common.events import Event, EventCrossing, event_id
from common.fields import text
from common.keys import Keys
from common.tracks import TrackedObject, TrackMessage
from runtime.event_store import load_event, queue_save

log = logging.getLogger("cctv.tracker.events")

UPDATES_MAXLEN = 10_000
MAX_PATH = 600
"""Most points of an event's path: beyond, every other point is dropped (a parked car's record
stays small)."""
BETTER = 1.2
"""A snapshot is replaced when its quality (score x box area) is this much higher."""
RECORD_WRITES = threading.Lock()
"""Held while the tracker's thread or the media thread writes event records: a record the
tracker rewrites from memory keeps the file name the media thread has just set."""
NOT_SEEN_AFTER_TAKEOVER = "the object was not seen after a tracker took the event over"


@dataclass(frozen=True)
class SnapshotJob:
    """Draw ``obj`` (boxes in pixels of a ``size`` frame) on frame ``frame_id`` and write it,
    and its crop, as ``name``; then ``event`` (the tracker's copy) and its record name it."""

    camera: str
    frame_id: str
    obj: TrackedObject
    size: tuple[int, int]
    name: str
    event: Event


@dataclass
class Change:
    """One lifecycle message about an open event (written as an :class:`EventChange`)."""

    kind: ChangeKind
    event: Event


@dataclass
class Changes:
    """What one frame changed: lifecycle messages and snapshot jobs."""

    events: list[Change] = field(default_factory=list)
    snapshots: list[SnapshotJob] = field(default_factory=list)


@dataclass
class Rules:
    """Event settings of one camera."""

    end_after_s: float = 5.0
    pre_s: float = 2.0
    post_s: float = 2.0
    clips: bool = True
    path_hz: float = 2.0
    update_every_s: float = 1.0


def quality(obj: TrackedObject, width: int, height: int) -> float:
    """Score x box area (fraction of the frame): what makes a better snapshot."""
    x1, y1, x2, y2 = obj.box
    return obj.score * max(0.0, x2 - x1) * max(0.0, y2 - y1) / (width * height)


def media_name(camera: str, ident: str, start_ts: float, suffix: str) -> str:
    """``{camera}/{YYYY-MM-DD}/{id}{suffix}`` (UTC day of the start), relative to the media dir."""
    return f"{camera}/{time.strftime('%Y-%m-%d', time.gmtime(start_ts))}/{ident}{suffix}"


@dataclass
class _Open:
    event: Event
    best: float = 0.0
    saved_ts: float = 0.0
    """Capture time of the last message about it."""
    snapshot_asked: bool = True
    """A snapshot job was made for it (by this tracker, or by one before if the record names
    the snapshot)."""


class EventBuilder:
    """The events of one camera; :meth:`frame` after each tracked frame."""

    def __init__(self, camera: str, rules: Rules, open_events: list[Event] = ()):
        self.camera, self.rules = camera, rules
        self.open: dict[int, _Open] = {
            e.track_id: _Open(e, saved_ts=e.last_ts, snapshot_asked=e.snapshot is not None)
            for e in open_events}

    def frame(self, msg: TrackMessage, zones_of: Callable[[int], list[str]],
              config: EventsConfig = EventsConfig()) -> Changes:
        """The changes of one tracked frame; ``zones_of(track id)`` names the zones the object
        occupies now (a stay in a zone that ended in the frame counts too); ``config`` says
        which events get clips."""
        out = Changes()
        crossed: dict[int, list[EventCrossing]] = {}
        for c in msg.crossings:
            crossed.setdefault(c.track_id, []).append(EventCrossing(c.line, c.direction))
        left: dict[int, list[str]] = {}
        for stay in msg.stays:
            left.setdefault(stay.track_id, []).append(stay.zone)
        for track_id in left.keys() - {obj.track_id for obj in msg.tracks}:
            if track_id in self.open and self._zones(self.open[track_id], left[track_id]):
                out.events.append(Change(ChangeKind.UPDATE, self.open[track_id].event))
        for obj in msg.tracks:
            state = self.open.get(obj.track_id)
            q = quality(obj, msg.width, msg.height)
            x, y = (obj.box[0] + obj.box[2]) / 2 / msg.width, obj.box[3] / msg.height
            if state is None:
                ident = event_id(self.camera, obj.track_id, msg.ts)
                event = Event(ident, self.camera, obj.label, msg.ts, None, obj.score,
                              path=[(msg.ts, round(x, 4), round(y, 4))],
                              track_id=obj.track_id, last_ts=msg.ts)
                state = self.open[obj.track_id] = _Open(event, q, msg.ts)
                self._snapshot(out, msg, obj, event)
                self._zones(state, zones_of(obj.track_id) + left.get(obj.track_id, []))
                event.lines.extend(crossed.get(obj.track_id, []))
                out.events.append(Change(ChangeKind.NEW, event))
                continue
            event = state.event
            event.last_ts, event.top_score = msg.ts, max(event.top_score, obj.score)
            if msg.ts - event.path[-1][0] >= 1 / self.rules.path_hz:
                event.path.append((msg.ts, round(x, 4), round(y, 4)))
                if len(event.path) > MAX_PATH:
                    event.path = event.path[::2]
            news = self._zones(state, zones_of(obj.track_id) + left.get(obj.track_id, []))
            if obj.track_id in crossed:
                event.lines.extend(crossed[obj.track_id])
                news = True
            if not state.snapshot_asked:  # taken over without a snapshot: take this frame's
                state.best = q
                self._snapshot(out, msg, obj, event)
            elif q > state.best * BETTER and \
                    msg.ts - state.saved_ts >= self.rules.update_every_s:
                state.best = q
                self._snapshot(out, msg, obj, event)
                news = True
            if news:
                state.saved_ts = msg.ts
                out.events.append(Change(ChangeKind.UPDATE, event))
        self._end_quiet(out, msg.ts, config)
        return out

    def idle(self, ts: float, config: EventsConfig = EventsConfig()) -> Changes:
        """The changes at capture time ``ts`` when no frame comes (a camera that stopped): its
        objects' events end as if empty frames had come."""
        out = Changes()
        self._end_quiet(out, ts, config)
        return out

    def _end_quiet(self, out: Changes, ts: float, config: EventsConfig) -> None:
        for track_id, state in list(self.open.items()):
            if ts - state.event.last_ts >= self.rules.end_after_s:
                self._end(out, track_id, state, config)

    def _zones(self, state: _Open, zones: list[str]) -> bool:
        entered = [z for z in dict.fromkeys(zones) if z not in state.event.zones]
        state.event.zones.extend(entered)
        return bool(entered)

    def _snapshot(self, out: Changes, msg: TrackMessage, obj: TrackedObject,
                  event: Event) -> None:
        self.open[obj.track_id].snapshot_asked = True
        out.snapshots.append(SnapshotJob(
            self.camera, msg.frame_id, obj, (msg.width, msg.height),
            media_name(self.camera, event.id, event.start_ts, ".jpg"), event))

    def _end(self, out: Changes, track_id: int, state: _Open, config: EventsConfig) -> None:
        event = state.event
        event.end_ts = event.last_ts
        del self.open[track_id]
        if not state.snapshot_asked:
            event.media_errors["snapshot"] = NOT_SEEN_AFTER_TAKEOVER
            log.warning("event %s: no snapshot: %s", event.id, NOT_SEEN_AFTER_TAKEOVER)
        if self.rules.clips and config.wants_clip(event.label, event.zones):
            event.clip = media_name(self.camera, event.id, event.start_ts, ".mp4")
            event.recorded_clip = [event.start_ts - self.rules.pre_s,
                                   event.end_ts + self.rules.post_s]
        out.events.append(Change(ChangeKind.END, event))


def open_events(client: redis.Redis, keys: Keys, camera: str) -> list[Event]:
    """The camera's open events as stored (for a tracker that takes the camera over)."""
    ids = sorted(text(i) for i in client.smembers(keys.open_events(camera)))
    return [e for e in (load_event(client, keys, i) for i in ids) if e and e.end_ts is None]


def write_changes(client: redis.Redis, keys: Keys, camera: str, changes: Changes) -> None:
    """Store the changed events, keep the open set (an ended event leaves it) and append each
    to ``cctv:event-updates``."""
    if not changes.events:
        return
    with RECORD_WRITES:
        pipe = client.pipeline(transaction=not keys.hash_tags)
        for change in changes.events:
            event = change.event
            queue_save(pipe, keys, event)
            if change.kind == ChangeKind.END:
                pipe.srem(keys.open_events(camera), event.id)
            else:
                pipe.sadd(keys.open_events(camera), event.id)
            pipe.xadd(keys.event_updates, EventChange.of(change.kind, event).to_fields(),
                      maxlen=UPDATES_MAXLEN, approximate=True)
        pipe.execute()


def update_record(client: redis.Redis, keys: Keys, event_id: str,
                  change: Callable[[Event], None], held: Event | None = None, *,
                  announce: bool = False) -> None:
    """Apply ``change`` to the stored record of ``event_id`` (if it is still there) and to
    ``held``, the tracker's copy of an open event, which it writes again with later changes;
    with ``announce``, say ``update`` on ``cctv:event-updates`` too (a file the record names
    now: consumers learn that ``has_snapshot`` turned true)."""
    with RECORD_WRITES:
        if held is not None:
            change(held)
        event = load_event(client, keys, event_id)
        if event is None:
            return
        change(event)
        pipe = client.pipeline(transaction=not keys.hash_tags)
        queue_save(pipe, keys, event)
        if announce:
            pipe.xadd(keys.event_updates, EventChange.of(ChangeKind.UPDATE, event).to_fields(),
                      maxlen=UPDATES_MAXLEN, approximate=True)
        pipe.execute()


def media_written(kind: str, name: str) -> Callable[[Event], None]:
    """The change naming a written file of ``kind`` (``snapshot``)."""
    def apply(event: Event) -> None:
        setattr(event, kind, name)
        event.media_errors.pop(kind, None)
    return apply


def media_missing(kind: str, reason: str) -> Callable[[Event], None]:
    """The change saying why the ``kind`` file is missing (an event that has one keeps it)."""
    def apply(event: Event) -> None:
        if getattr(event, kind) is None:
            event.media_errors[kind] = reason
    return apply
