"""The event-updates codec: the fields the tracker writes (byte for byte as before it had one),
read back through bytes as redis-py returns them; every malformed entry is one MessageError."""

from __future__ import annotations

import json

import pytest

from common.cameras import WEBHOOK_EVENTS, WebhookConfig
from common.event_changes import ChangeKind, EventChange
from common.events import Event, EventCrossing, event_id
from common.fields import MessageError


def make_event() -> Event:
    start = 1_700_000_000.25
    return Event(event_id("gate", 7, start), "gate", "person", start, None, 0.9, ["queue"],
                 [EventCrossing("door", "in")], [(start, 0.5, 0.9)], snapshot="gate/a.jpg",
                 track_id=7, last_ts=start)


def as_redis(fields: dict[str, str]) -> dict[bytes, bytes]:
    """What redis-py returns: bytes keys and values."""
    return {k.encode(): v.encode() for k, v in fields.items()}


def entry(**change: object) -> dict[bytes, bytes]:
    """A valid entry's fields with some replaced (a value of None: the field left out)."""
    fields = EventChange.of(ChangeKind.UPDATE, make_event()).to_fields()
    fields.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in change.items()})
    return as_redis({k: v for k, v in fields.items() if change.get(k, "") is not None})


@pytest.mark.parametrize("kind", list(ChangeKind))
def test_round_trip_through_bytes(kind):
    change = EventChange.of(kind, make_event())
    back = EventChange.from_fields(as_redis(change.to_fields()))
    assert back == change and back.kind is kind
    assert (back.event_id, back.camera, back.label, back.start_ts, back.zones) == (
        "gate.1700000000250.7", "gate", "person", 1_700_000_000.25, ["queue"])


def test_wire_fields_are_those_the_tracker_wrote():
    event = make_event()
    assert EventChange.of("end", event).to_fields() == {
        "v": "1", "type": "end", "id": event.id, "camera": "gate",
        "event": json.dumps(event.to_dict())}


def test_webhook_events_are_the_change_kinds():
    assert WEBHOOK_EVENTS == ("new", "update", "end")
    assert WebhookConfig(url="http://hooks.example/x").events == ["new", "end"]


@pytest.mark.parametrize("change, reason", [
    ({"v": "2"}, "unsupported protocol version"),
    ({"v": None}, "missing field 'v'"),
    ({"type": "moved"}, "unknown change type 'moved'"),
    ({"type": None}, "missing field 'type'"),
    ({"id": None}, "missing field 'id'"),
    ({"camera": None}, "missing field 'camera'"),
    ({"event": None}, "missing field 'event'"),
    ({"event": "{not json"}, "not JSON"),
    ({"event": [1, 2]}, "not a JSON object"),
    ({"event": {"camera": "gate", "label": "person", "start_ts": 1.0}}, "'id' is not a string"),
    ({"id": "x/../y", "event": {"id": "x/../y", "camera": "gate", "label": "person",
                                "start_ts": 1.0}}, "bad event id"),
    ({"camera": "lobby"}, "not the event's"),
    ({"event": {"id": "gate.1700000000250.7", "camera": "gate", "label": "person",
                "start_ts": "soon"}}, "start_ts"),
    ({"event": {"id": "gate.1700000000250.7", "camera": "gate", "label": "person",
                "start_ts": 1.0, "zones": "queue"}}, "'zones' is not a list"),
])
def test_malformed_entry_refused(change, reason):
    with pytest.raises(MessageError, match=reason):
        EventChange.from_fields(entry(**change))
