"""Event records against a real Redis: round trip, listing newest first with filters and
cursors, and retention by age and by size taking the files with the records, nothing else."""

from __future__ import annotations

import json

import pytest

from common.events import Event, EventCrossing, event_id
from common.fields import MessageError
from common.keys import KEYS
from runtime.event_store import Query, load_event, parse_cursor, prune, query_events, save_event


def make(camera: str, n: int, label: str = "person", zones=(), end: bool = True) -> Event:
    start = 1_000.0 + n
    return Event(event_id(camera, n, start), camera, label, start, start + 0.5 if end else None,
                 0.9, list(zones), [EventCrossing("door", "in")], [(start, 0.5, 0.9)], track_id=n)


def test_record_round_trip_and_api_shape():
    event = make("lobby", 7, zones=["queue"])
    event.snapshot, event.clip = "lobby/x.jpg", "lobby/x.mp4"
    back = Event.from_json(event.to_json())
    assert back == event
    assert back.crop == "lobby/x-crop.jpg"
    assert back.to_dict() == {"id": "lobby.1007000.7", "camera": "lobby", "label": "person",
                              "start_ts": 1007.0, "end_ts": 1007.5, "top_score": 0.9,
                              "zones": ["queue"], "lines": [{"name": "door", "direction": "in"}],
                              "has_snapshot": True, "has_clip": True}


def test_a_record_with_a_tracker_encoded_clip_still_reads():
    """Records stored while the tracker encoded clips carry ``clip_complete``: read, dropped."""
    event = make("lobby", 7)
    event.clip = "lobby/x.mp4"
    stored = json.loads(event.to_json()) | {"clip_complete": False}
    assert Event.from_json(json.dumps(stored)) == event


@pytest.mark.parametrize("raw", [b"{}", b"[1]", b"nope", b'{"id": "a/b", "camera": "c", '
                                                          b'"label": "l", "start_ts": 1}'])
def test_bad_records_are_refused(raw):
    with pytest.raises(MessageError):
        Event.from_json(raw)


def test_query_newest_first_filters_and_cursor(redis_client):
    for n in range(10):
        save_event(redis_client, KEYS, make("lobby" if n % 2 else "gate", n,
                                            label="car" if n == 4 else "person",
                                            zones=["queue"] if n >= 6 else []))
    events, cursor = query_events(redis_client, KEYS, Query(limit=4))
    assert [e.start_ts for e in events] == [1009, 1008, 1007, 1006]
    page2, cursor2 = query_events(redis_client, KEYS, Query(limit=4, cursor=cursor))
    assert [e.start_ts for e in page2] == [1005, 1004, 1003, 1002]
    page3, cursor3 = query_events(redis_client, KEYS, Query(limit=4, cursor=cursor2))
    assert [e.start_ts for e in page3] == [1001, 1000] and cursor3 is None
    assert [e.start_ts for e in query_events(redis_client, KEYS, Query(camera="gate"))[0]] == \
        [1008, 1006, 1004, 1002, 1000]
    assert [e.label for e in query_events(redis_client, KEYS, Query(label="car"))[0]] == ["car"]
    assert len(query_events(redis_client, KEYS, Query(zone="queue"))[0]) == 4
    assert [e.start_ts for e in query_events(redis_client, KEYS,
                                             Query(after=1003, before=1005))[0]] == [1004, 1003]
    assert load_event(redis_client, KEYS, events[0].id) == events[0]
    assert load_event(redis_client, KEYS, "nope") is None
    with pytest.raises(ValueError):
        parse_cursor("garbage")


def test_equal_start_times_page_without_loss(redis_client):
    for n in range(5):
        event = make("lobby", n)
        event.start_ts, event.id = 5.0, event_id("lobby", n, 5.0)
        save_event(redis_client, KEYS, event)
    seen, cursor = [], None
    while True:
        page, cursor = query_events(redis_client, KEYS, Query(limit=2, cursor=cursor))
        seen += [e.id for e in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"lobby.5000.{n}" for n in range(5)) and len(seen) == 5


def test_prune_by_size_and_age_takes_files_and_nothing_else(redis_client, tmp_path):
    events = []
    for n in range(6):
        event = make("gate" if n == 5 else "lobby", n, end=n != 0)
        event.snapshot, event.clip = f"{event.camera}/{event.id}.jpg", f"lobby/{event.id}.mp4"
        for name in event.files():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(b"x" * (50 if name.endswith(".mp4") else 25))
        save_event(redis_client, KEYS, event)
        events.append(event)
    kept_other = events.pop()  # 100 bytes a camera each
    removed = prune(redis_client, KEYS, "lobby", tmp_path, now=1010, max_age_s=3600,
                    max_bytes=250)
    # the open event 0 stays; the oldest ended ones go until 250 bytes remain
    assert [e.id for e in removed] == [events[1].id, events[2].id, events[3].id]
    for event in removed:
        assert load_event(redis_client, KEYS, event.id) is None
        assert not any((tmp_path / name).exists() for name in event.files())
    for event in (events[0], events[4], kept_other):
        assert load_event(redis_client, KEYS, event.id) == event
    assert (tmp_path / events[4].snapshot).exists()
    removed = prune(redis_client, KEYS, "lobby", tmp_path, now=1003.5 + 3600, max_age_s=3600,
                    max_bytes=10**9)
    assert [e.id for e in removed] == [events[0].id]
    assert query_events(redis_client, KEYS, Query(camera="lobby"))[0] == [events[4]]
