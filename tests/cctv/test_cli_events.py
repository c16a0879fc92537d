"""``cctv events``: the list newest first with filters, as text and as the API's JSON."""

from __future__ import annotations

import json
import time

import pytest

from cctv.cli import main
from common.events import Event, EventCrossing, event_id
from common.keys import KEYS
from runtime.event_store import save_event


def test_events_lists_newest_first_with_filters(redis_client, redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    now = time.time()
    old = Event(event_id("gate", 1, now - 7200), "gate", "person", now - 7200, now - 7190, 0.8)
    new = Event(event_id("lobby", 2, now - 60), "lobby", "car", now - 60, None, 0.9, ["queue"],
                [EventCrossing("door", "out")], clip="lobby/x.mp4")
    for event in (old, new):
        save_event(redis_client, KEYS, event)
    assert main(["events", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"events": [new.to_dict(), old.to_dict()],
                                                   "cursor": None}
    assert main(["events", "--since", "1h"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "lobby" in lines[0] and "zone:queue door:out" in lines[0]
    assert " open " in lines[0] and "clip" in lines[0]
    assert main(["events", "--camera", "gate", "--label", "car"]) == 0
    assert capsys.readouterr().out == "no events\n"


@pytest.mark.parametrize("argv", [["events", "--since", "soon"], ["events", "--since", "0"],
                                  ["events", "--limit", "0"]])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "events" in capsys.readouterr().err


def test_events_says_when_there_are_more_and_pages_on(redis_client, redis_url, monkeypatch,
                                                      capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    now = time.time()
    ids = []
    for i in range(3):
        event = Event(event_id("gate", i, now - 100 + i), "gate", "person", now - 100 + i,
                      now - 90 + i, 0.8)
        save_event(redis_client, KEYS, event)
        ids.append(event.id)
    assert main(["events", "--camera", "gate", "--limit", "2"]) == 0
    *rows, more = capsys.readouterr().out.splitlines()
    assert [r.split()[-1] for r in rows] == [ids[2], ids[1]]
    assert more.startswith("more: cctv events --camera gate --limit 2 --cursor ")
    assert main(more.removeprefix("more: cctv ").replace("'", "").split()) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split()[-1] for r in rows] == [ids[0]], "the last page says no more"


def test_an_unknown_camera_is_an_error_as_in_the_api(redis_client, redis_url, monkeypatch,
                                                     capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["events", "--camera", "nowhere"]) == 2
    assert capsys.readouterr().err == "cctv: events: unknown camera: nowhere\n"


def test_a_cursor_not_printed_by_events_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["events", "--cursor", "zzz"])
    assert exit_.value.code == 2 and "not a cursor" in capsys.readouterr().err
