"""The Events view through AppTest: thumbnails newest first, filters, and the selected event's
snapshot and clip (one cut from the recording on first view); the Live view marks a camera with an event in progress."""

from __future__ import annotations

import time

import cv2
import numpy as np
from recorded import encode_h264, record
from test_app import page, show, texts  # noqa: F401 (page is a fixture)

from common.cameras import CameraConfig
from common.counting_rules import ZoneConfig
from common.events import Event, EventCrossing, event_id
from common.keys import KEYS
from media.video import VideoWriter
from runtime.camera_list import store_camera
from runtime.event_store import save_event


def store(client, media, camera: str, n: int, label: str, clip: bool) -> Event:
    start = time.time() - 60 + n
    event = Event(event_id(camera, n, start), camera, label, start, start + 3, 0.9, ["queue"],
                  [EventCrossing("door", "in")], snapshot=f"{camera}/e{n}.jpg",
                  clip=f"{camera}/e{n}.mp4" if clip else None, track_id=n)
    (media / camera).mkdir(parents=True, exist_ok=True)
    image = np.full((48, 64, 3), 30 * n, np.uint8)
    for name in (event.snapshot, event.crop):
        cv2.imwrite(str(media / name), image)
    if clip:
        with VideoWriter(media / event.clip, 10.0) as writer:
            for _ in range(10):
                writer.write(image)
    save_event(client, KEYS, event)
    return event


def test_events_view_shows_thumbnails_filters_and_plays_a_clip(redis_url, redis_client, page,
                                                               monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_MEDIA_DIR", str(tmp_path))
    person = store(redis_client, tmp_path, "gate", 1, "person", clip=True)
    store(redis_client, tmp_path, "gate", 2, "car", clip=False)
    at = show(page().run(), "Events")
    assert not at.exception
    assert len(at.get("image")) == 2 and "gate · car" in texts(at)
    assert [s for s in at.selectbox if s.label == "Class"][0].options == ["all", "car", "person"]
    [s for s in at.selectbox if s.label == "Class"][0].set_value("person").run()
    assert len(at.get("image")) == 1 and "gate · car" not in texts(at)
    [b for b in at.button if b.key == f"ev_show_{person.id}"][0].click().run()
    assert not at.exception
    assert len(at.get("video")) == 1 and len(at.get("image")) == 2
    assert "zones entered: queue · lines crossed: door in" in texts(at)


def test_events_view_offers_the_zones_present_and_pages_with_more(redis_url, redis_client, page,
                                                                  monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_MEDIA_DIR", str(tmp_path))
    bench = ZoneConfig(name="bench", points=[(0.0, 0.0), (0.5, 0.0), (0.5, 0.5)])
    store_camera(redis_client, KEYS, CameraConfig(name="gate", url="/gate.mp4", zones=[bench]))
    for n in range(1, 6):
        store(redis_client, tmp_path, "gate", n, "person", clip=False)
    at = show(page().run(), "Events")
    # The camera's configured zones and those its events entered.
    assert [s for s in at.selectbox if s.label == "Zone"][0].options == ["all", "bench", "queue"]
    [n for n in at.number_input if n.label == "Show"][0].set_value(4).run()
    assert len(at.get("image")) == 4
    [b for b in at.button if b.key == "ev_more"][0].click().run()
    assert len(at.get("image")) == 5 and not [b for b in at.button if b.key == "ev_more"]
    [s for s in at.selectbox if s.label == "Zone"][0].set_value("queue").run()
    assert len(at.get("image")) == 4, "new filters start again at the first page"


def test_events_view_plays_a_clip_cut_from_the_recording(redis_url, redis_client, page,
                                                         monkeypatch, tmp_path, sample_video):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setenv("CCTV_RECORDINGS_DIR", str(tmp_path / "recordings"))
    t0 = time.time() - 60
    record(redis_client, encode_h264(sample_video, tmp_path / "h264.mp4"), tmp_path / "recordings",
           t0=t0)
    event = Event(event_id("gate", 3, t0 + 3.2), "gate", "person", t0 + 3.2, t0 + 6.1, 0.9,
                  clip="gate/e3.mp4", recorded_clip=[t0 + 1.2, t0 + 8.1], track_id=3)
    save_event(redis_client, KEYS, event)
    at = show(page().run(), "Events")
    [b for b in at.button if b.key == f"ev_show_{event.id}"][0].click().run()
    assert not at.exception
    assert len(at.get("video")) == 1 and (tmp_path / "media" / event.clip).is_file()


def test_live_marks_a_camera_with_an_event_in_progress(redis_url, redis_client, page,
                                                       monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    redis_client.sadd(KEYS.camera_names, "gate")
    redis_client.sadd(KEYS.open_events("gate"), "gate.1.1")
    at = page().run()
    assert "1 event in progress" in texts(at)
