"""Events in Redis: ``cctv:events`` (hash id -> record JSON), ``cctv:events-time`` (sorted set of
every id by start time) and ``cctv:events:{cam}`` (the camera's ids by start time). Snapshots
and clips are files under the media folder, named in the record relative to it; :func:`prune`
removes the oldest events of a camera with their files, by age and by total size.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import redis

from common.events import EVENT_ID_PATTERN, Event
from common.fields import MessageError, text
from common.keys import Keys

from .logging_setup import warn_once
from .paths import OutsideFolder, confined

log = logging.getLogger("cctv.events")

SCAN_CHUNK = 200
"""Ids read from an index at once while filtering."""


def queue_save(pipe: redis.client.Pipeline, keys: Keys, event: Event) -> None:
    """Queue on ``pipe`` the writes of :func:`save_event`."""
    pipe.hset(keys.events, event.id, event.to_json())
    pipe.zadd(keys.events_time, {event.id: event.start_ts})
    pipe.zadd(keys.camera_events(event.camera), {event.id: event.start_ts})


def save_event(client: redis.Redis, keys: Keys, event: Event) -> None:
    """Write (or rewrite) an event and index it by start time, globally and per camera."""
    pipe = client.pipeline(transaction=not keys.hash_tags)
    queue_save(pipe, keys, event)
    pipe.execute()


def camera_known(client: redis.Redis, keys: Keys, name: str) -> bool:
    """Whether ``name`` is a camera that is configured, has published or has events (the
    events query answers 404 for any other)."""
    return bool(client.hexists(keys.cameras, name) or client.sismember(keys.camera_names, name)
                or client.exists(keys.camera_events(name)))


def load_event(client: redis.Redis, keys: Keys, event_id_: str) -> Event | None:
    """One event, None when unknown or unreadable."""
    raw = client.hget(keys.events, event_id_)
    try:
        return Event.from_json(raw) if raw is not None else None
    except MessageError:
        return None


def delete_events(client: redis.Redis, keys: Keys, events: list[Event], media_dir: Path) -> None:
    """Remove events with their files."""
    for event in events:
        for path in media_files(event, media_dir):
            path.unlink(missing_ok=True)
    if events:
        pipe = client.pipeline(transaction=not keys.hash_tags)
        pipe.hdel(keys.events, *[e.id for e in events])
        pipe.zrem(keys.events_time, *[e.id for e in events])
        for event in events:
            pipe.zrem(keys.camera_events(event.camera), event.id)
        pipe.execute()


@dataclass(frozen=True)
class Query:
    """Which events to list: newest first, ``after <= start_ts < before``, at most ``limit``,
    continuing after ``cursor`` (the previous page's)."""

    camera: str | None = None
    label: str | None = None
    zone: str | None = None
    after: float | None = None
    before: float | None = None
    limit: int = 50
    cursor: str | None = None

    def matches(self, event: Event) -> bool:
        return ((self.label is None or event.label == self.label)
                and (self.zone is None or self.zone in event.zones))


def parse_cursor(cursor: str) -> tuple[float, str]:
    """``"<start_ts>~<id>"`` -> ``(start_ts, id)`` (ValueError when malformed)."""
    score, sep, last = cursor.partition("~")
    if not sep or not re.match(EVENT_ID_PATTERN, last):
        raise ValueError("cursor is not one this API gave")
    return float(score), last


def _newest_ids(client: redis.Redis, index: str, query: Query) -> Iterator[tuple[str, float]]:
    """Ids of ``index`` newest first within the query's times, after its cursor."""
    top: float | str = "+inf" if query.before is None else f"({query.before!r}"
    bottom: float | str = "-inf" if query.after is None else query.after
    after_cursor: tuple[float, str] | None = None
    if query.cursor:
        after_cursor = parse_cursor(query.cursor)
        if query.before is None or after_cursor[0] < query.before:
            top = after_cursor[0]
    offset = 0
    while True:
        chunk = client.zrevrangebyscore(index, top, bottom, start=offset, num=SCAN_CHUNK,
                                        withscores=True)
        for member, score in chunk:
            member = text(member)
            if after_cursor and score == after_cursor[0] and member >= after_cursor[1]:
                continue
            yield member, score
        if len(chunk) < SCAN_CHUNK:
            return
        offset += SCAN_CHUNK


def query_events(client: redis.Redis, keys: Keys,
                 query: Query) -> tuple[list[Event], str | None]:
    """One page of events, newest first, and the cursor of the next (None when it was the last)."""
    index = keys.camera_events(query.camera) if query.camera else keys.events_time
    found: list[Event] = []
    ids = _newest_ids(client, index, query)
    while len(found) < query.limit:
        batch = [pair for _, pair in zip(range(SCAN_CHUNK), ids)]
        if not batch:
            return found, None
        records = client.hmget(keys.events, [member for member, _ in batch])
        for (member, score), raw in zip(batch, records):
            try:
                event = Event.from_json(raw) if raw is not None else None
            except MessageError:
                continue
            if event is not None and query.matches(event):
                found.append(event)
                if len(found) == query.limit:
                    return found, f"{score!r}~{member}"
    return found, None


def camera_events(client: redis.Redis, keys: Keys, camera: str, after: float | None = None,
                  before: float | None = None) -> Iterator[Event]:
    """A camera's events, oldest first; only those that started from ``after`` to ``before``
    (Unix seconds, inclusive; None: open ended), read from its index by time."""
    low = "-inf" if after is None else after
    high = "+inf" if before is None else before
    offset = 0
    while True:
        ids = client.zrangebyscore(keys.camera_events(camera), low, high, start=offset,
                                   num=SCAN_CHUNK)
        if not ids:
            return
        for raw in client.hmget(keys.events, ids):
            try:
                if raw is not None:
                    yield Event.from_json(raw)
            except MessageError as exc:
                warn_once(log, f"{keys.events}: {exc}: ignored")
        offset += len(ids)


def media_files(event: Event, media_dir: Path) -> list[Path]:
    """The event's files, each confined to ``media_dir`` (a name outside it is logged once and
    left out: retention never deletes what the record does not own)."""
    paths = []
    for name in event.files():
        try:
            paths.append(confined(media_dir, name))
        except OutsideFolder as exc:
            warn_once(log, f"event {event.id}: {exc}: ignored")
    return paths


def size_of(event: Event, media_dir: Path) -> int:
    """Bytes of the event's files on disk."""
    return sum(p.stat().st_size for p in media_files(event, media_dir) if p.exists())


def prune(client: redis.Redis, keys: Keys, camera: str, media_dir: Path, *, now: float,
          max_age_s: float, max_bytes: int) -> list[Event]:
    """Remove the camera's events (and files) that started more than ``max_age_s`` ago, then the
    oldest ended ones until its files total at most ``max_bytes``. Returns those removed."""
    events = list(camera_events(client, keys, camera))
    sizes = [size_of(e, media_dir) for e in events]
    total = sum(sizes)
    removed = []
    for event, size in zip(events, sizes):
        too_old = event.start_ts < now - max_age_s
        if too_old or (total > max_bytes and event.end_ts is not None):
            removed.append(event)
            total -= size
        elif total <= max_bytes:
            break
    delete_events(client, keys, removed, media_dir)
    return removed
