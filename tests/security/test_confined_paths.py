"""Paths and names read from Redis stay in their folder: retention never deletes a file outside
the media folder, however a record names it, and a camera name like ``../../x`` is never used."""

from __future__ import annotations

import json
import logging

import pytest

from common.events import Event, event_id
from common.fields import MessageError
from common.keys import KEYS
from runtime.camera_list import published_camera_names
from runtime.event_store import load_event, media_files, prune, save_event
from runtime.paths import OutsideFolder, confined

OLD = 1_000.0  # 30 days before NOW
NOW = OLD + 30 * 86_400


@pytest.mark.parametrize("name", ["../x.jpg", "../../x.jpg", "/srv/other/x.mp4", "lobby/../../x",
                                  "", "."])
def test_confined_refuses_names_outside_the_folder(tmp_path, name):
    with pytest.raises(OutsideFolder):
        confined(tmp_path / "media", name)


def test_confined_follows_symlinks(tmp_path):
    (tmp_path / "media" / "lobby").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "media" / "lobby" / "link").symlink_to(tmp_path / "elsewhere")
    assert confined(tmp_path / "media", "lobby/day/x.jpg") == \
        (tmp_path / "media" / "lobby" / "day" / "x.jpg").resolve()
    with pytest.raises(OutsideFolder):
        confined(tmp_path / "media", "lobby/link/x.jpg")


def plant(client, ident: str, **media) -> None:
    """A record written straight into Redis, as anyone who can write to it could."""
    record = {"id": ident, "camera": "lobby", "label": "person", "start_ts": OLD,
              "end_ts": OLD + 1, **media}
    client.hset(KEYS.events, ident, json.dumps(record))
    client.zadd(KEYS.events_time, {ident: OLD})
    client.zadd(KEYS.camera_events("lobby"), {ident: OLD})


def test_retention_deletes_nothing_outside_the_media_folder(redis_client, tmp_path, caplog):
    media = tmp_path / "media"
    (media / "lobby").mkdir(parents=True)
    outside = tmp_path / "other"
    outside.mkdir()
    planted = [outside / "x.jpg", outside / "x-crop.jpg", outside / "x.mp4", tmp_path / "y.jpg"]
    for path in planted:
        path.write_bytes(b"keep me")
    (media / "lobby" / "link").symlink_to(outside)
    plant(redis_client, "lobby.1.1", snapshot="../other/x.jpg")
    plant(redis_client, "lobby.1.2", clip=str(outside / "x.mp4"))
    plant(redis_client, "lobby.1.3", snapshot="lobby/link/x.jpg")  # a symlink out
    plant(redis_client, "lobby.1.4", snapshot="lobby/../../y.jpg")
    own = Event(event_id("lobby", 5, OLD), "lobby", "person", OLD, OLD + 1,
                snapshot="lobby/own.jpg")
    (media / "lobby" / "own.jpg").write_bytes(b"old")
    (media / "lobby" / "own-crop.jpg").write_bytes(b"old")
    save_event(redis_client, KEYS, own)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            removed = prune(redis_client, KEYS, "lobby", media, now=NOW, max_age_s=86_400,
                            max_bytes=10**9)
    assert all(path.read_bytes() == b"keep me" for path in planted)
    assert not (media / "lobby" / "own.jpg").exists()  # the record's own files do go
    assert load_event(redis_client, KEYS, own.id) is None and removed == []
    refused = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(refused) == len(set(refused)) >= 3  # each bad record logged once, not per pass


def test_records_naming_media_outside_are_bad_records():
    for media in ({"snapshot": "../../x.jpg"}, {"clip": "/srv/other/x.mp4"},
                  {"snapshot": "a\\..\\b.jpg"}, {"clip": 5}):
        raw = json.dumps({"id": "lobby.1.1", "camera": "lobby", "label": "person",
                          "start_ts": OLD, **media})
        with pytest.raises(MessageError):
            Event.from_json(raw)


def test_media_files_skip_a_symlink_out(tmp_path):
    (tmp_path / "media" / "lobby").mkdir(parents=True)
    (tmp_path / "media" / "lobby" / "link").symlink_to(tmp_path)
    event = Event("lobby.1.1", "lobby", "person", OLD, snapshot="lobby/link/x.jpg",
                  clip="lobby/day/x.mp4")
    assert media_files(event, tmp_path / "media") == \
        [(tmp_path / "media" / "lobby" / "day" / "x.mp4").resolve()]


def test_camera_names_that_are_no_names_are_never_used(redis_client, caplog):
    redis_client.sadd(KEYS.camera_names, "lobby", "../../x", "/etc", "gate", "a b")
    with caplog.at_level(logging.WARNING):
        assert published_camera_names(redis_client, KEYS) == ["gate", "lobby"]
        assert published_camera_names(redis_client, KEYS) == ["gate", "lobby"]
    assert sum("no camera name" in r.getMessage() for r in caplog.records) == 3
