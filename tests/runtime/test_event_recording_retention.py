"""Retention of a camera recorded only for its events: a segment no event needs goes once it
ended more than the grace ago; one an ended event's clip or an open event overlaps stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.events import Event, event_id
from common.keys import KEYS
from runtime import recordings
from runtime.event_store import save_event
from runtime.recordings import (
    EVENTS_GRACE_S,
    TRACKER_WAIT_MAX_S,
    EventRetention,
    Segment,
    add_segment,
    list_segments,
    segment_path,
)

NOW = 1_800_000_000.0
SEGMENT_S = 10.0


def index_segments(client, root: Path, starts: list[float]) -> list[Segment]:
    """Index a 10-s segment (a small file) at each start."""
    segments = []
    for start in starts:
        path = segment_path("cam", round(start * 1000))
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"x")
        segment = Segment("cam", start, start + SEGMENT_S, path, 1, "h264", 64, 48)
        add_segment(client, KEYS, segment)
        segments.append(segment)
    return segments


def event(start_ts: float, end_ts: float | None = None, clip: list[float] | None = None,
          label: str = "person") -> Event:
    return Event(event_id("cam", int(start_ts), start_ts), "cam", label, start_ts, end_ts,
                 recorded_clip=clip)


def save_open(client, opened: Event) -> None:
    save_event(client, KEYS, opened)
    client.sadd(KEYS.open_events("cam"), opened.id)


def kept(client) -> list[float]:
    return [s.start_ts for s in list_segments(client, KEYS, "cam")]


def tracked(client, ts: float) -> None:
    """The tracker took a frame published at ``ts``."""
    client.hset(KEYS.tracker_state("cam"), "frame_id", f"{round(ts * 1000)}-0")


@pytest.fixture(autouse=True)
def tracker_at_now(redis_client) -> None:
    """The tracker keeps up (tests of a tracker behind set it again)."""
    tracked(redis_client, NOW)


def retention(labels: tuple[str, ...] = ("person",)) -> EventRetention:
    return EventRetention("cam", lambda label: label in labels)


def test_only_segments_an_ended_event_needs_outlive_the_grace(redis_client, tmp_path):
    base = NOW - 1000
    index_segments(redis_client, tmp_path, [base + i * SEGMENT_S for i in range(10)])
    save_event(redis_client, KEYS, event(base + 32, base + 41, clip=[base + 30, base + 43]))
    save_event(redis_client, KEYS, event(base + 60, base + 65))  # no clip: needs nothing
    assert retention().enforce(redis_client, KEYS, tmp_path, now=NOW) == 8
    assert kept(redis_client) == [base + 30, base + 40]
    assert sorted(p.name for p in tmp_path.rglob("*.mp4")) == [
        f"{round((base + 30) * 1000)}.mp4", f"{round((base + 40) * 1000)}.mp4"]


def test_segments_within_the_grace_stay_whatever_the_events(redis_client, tmp_path):
    starts = [NOW - EVENTS_GRACE_S - 15, NOW - EVENTS_GRACE_S - 5, NOW - 30]
    index_segments(redis_client, tmp_path, starts)
    assert retention().enforce(redis_client, KEYS, tmp_path, now=NOW) == 1
    assert kept(redis_client) == starts[1:]  # the first ended before the grace, not the second


def test_an_open_event_holds_every_segment_from_a_grace_before_its_start(redis_client, tmp_path):
    base = NOW - 2000
    index_segments(redis_client, tmp_path, [base + i * SEGMENT_S for i in range(100)])
    save_open(redis_client, event(base + 500))
    save_open(redis_client, event(base + 200, label="car"))  # gets no clip: holds nothing
    rules = retention()
    rules.enforce(redis_client, KEYS, tmp_path, now=NOW)
    held = base + 500 - EVENTS_GRACE_S
    assert kept(redis_client) == [s for s in (base + i * SEGMENT_S for i in range(100))
                                  if s + SEGMENT_S > held]
    ended = event(base + 500, base + 520, clip=[base + 498, base + 522])  # it ends
    save_event(redis_client, KEYS, ended)
    redis_client.srem(KEYS.open_events("cam"), ended.id)
    rules.enforce(redis_client, KEYS, tmp_path, now=NOW)
    assert kept(redis_client) == [base + 490, base + 500, base + 510, base + 520]


def test_a_pass_reads_only_the_events_since_the_last_segment_decided(redis_client, tmp_path,
                                                                      monkeypatch):
    base = NOW - 5000
    for i in range(300):  # many events long before: the second pass does not read them
        save_event(redis_client, KEYS, event(base + i, base + i + 1, clip=[base + i, base + i + 2]))
    asked = []
    real = recordings.camera_events
    monkeypatch.setattr(recordings, "camera_events", lambda *args: asked.append(args[3:]) or
                        real(*args))
    rules = retention()
    index_segments(redis_client, tmp_path, [base, NOW - 500])
    rules.enforce(redis_client, KEYS, tmp_path, now=NOW)
    assert kept(redis_client) == [base]  # needed by the events
    index_segments(redis_client, tmp_path, [NOW - 300])
    rules.enforce(redis_client, KEYS, tmp_path, now=NOW)
    assert kept(redis_client) == [base]
    assert asked[0][0] is None  # the first pass of a process reads them all
    assert asked[1][0] == pytest.approx(NOW - 500 - EVENTS_GRACE_S)


def test_a_malformed_clip_range_is_no_need(redis_client, tmp_path):
    index_segments(redis_client, tmp_path, [NOW - 1000])
    save_event(redis_client, KEYS, event(NOW - 995, NOW - 990, clip=["x", None]))
    assert retention().enforce(redis_client, KEYS, tmp_path, now=NOW) == 1


def test_a_tracker_behind_holds_what_it_has_not_passed_up_to_an_hour(redis_client, tmp_path):
    base = NOW - 2 * TRACKER_WAIT_MAX_S
    starts = [base + i * 600 for i in range(12)]
    index_segments(redis_client, tmp_path, starts)
    tracked(redis_client, base + 1800)  # 1.5 h behind: it is waited for an hour only
    assert retention().enforce(redis_client, KEYS, tmp_path, now=NOW) == 6
    redis_client.delete(KEYS.tracker_state("cam"))  # gone: the same hour
    index_segments(redis_client, tmp_path, [NOW - 700])
    assert retention().enforce(redis_client, KEYS, tmp_path, now=NOW) == 0
    assert kept(redis_client) == sorted([*starts[6:], NOW - 700])


@pytest.mark.parametrize("frame_id", [b"junk", b"9" * 400, b"-5-0"])
def test_an_unreadable_tracker_position_is_no_hold_past_the_hour(redis_client, tmp_path,
                                                                 frame_id):
    starts = [NOW - TRACKER_WAIT_MAX_S - 600, NOW - 600]
    index_segments(redis_client, tmp_path, starts)
    redis_client.hset(KEYS.tracker_state("cam"), "frame_id", frame_id)
    assert retention().enforce(redis_client, KEYS, tmp_path, now=NOW) == 1
    assert kept(redis_client) == starts[1:]
