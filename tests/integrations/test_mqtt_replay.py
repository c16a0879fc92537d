"""bikes.mp4 through the real ingest, worker (ssdlite-person) and tracker with events on, while
``cctv mqtt`` publishes to a real mosquitto: every event change on ``cctv/events`` (``new``
first, ``end`` once, ``before`` = the previous ``after``, the last ``after`` = the stored
record), the retained objects in view, line totals and zone occupancy equal to ``cctv status``,
the latest event's snapshot JPEG, Home Assistant discovery configs and the stats document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from mqtt_broker import PASSWORD, USER, Subscriber, retained, wait_until
from running import run_until

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.keys import KEYS
from common.mqtt import Topics
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera
from runtime.event_store import Query, query_events
from runtime.status import collect_status
from tracking.service import Tracker
from tracking.settings import TrackerSettings
from workers.service import Worker
from workers.settings import WorkerSettings


def tracked_frame_id(client) -> str | None:
    raw = client.hget(KEYS.tracker_state("cam"), "frame_id")
    return raw.decode() if raw else None


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_bikes_replay_over_mqtt(broker, redis_client, redis_url, sample_video, tmp_path):
    from detector import load_detector

    camera = CameraConfig(name="cam", url=str(sample_video),
                          lines=[LineConfig(name="middle", points=[(0.5, 0.0), (0.5, 1.0)])],
                          zones=[ZoneConfig(name="left",
                                            points=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)])])
    store_camera(redis_client, KEYS, camera)
    env = dict(os.environ, REDIS_URL=redis_url, MQTT_TEST_PASSWORD=PASSWORD,
               CCTV_MQTT_URL=f"mqtt://{USER}:${{MQTT_TEST_PASSWORD}}@127.0.0.1:{broker.port}",
               CCTV_MQTT_CLIENT_ID="replay-bridge", CCTV_MEDIA_DIR=str(tmp_path),
               CCTV_MQTT_STATS_INTERVAL_S="2", CCTV_MQTT_POLL_S="0.2")
    t = Topics("cctv")
    bridge = subprocess.Popen([sys.executable, "-m", "cctv", "mqtt"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Subscriber(broker.port) as sub:
            sub.wait(lambda: sub.latest(t.available), timeout=120, what="the bridge")
            runner = CameraRunner(redis_client, KEYS, camera, str(sample_video),
                                  IngestSettings(redis_url=redis_url, stream_maxlen=1000),
                                  threading.Event(), "file")
            assert runner.run() == "finished"
            last = max(i.decode() for i, _ in redis_client.xrange(KEYS.frames("cam")))
            stop = threading.Event()
            worker = threading.Thread(target=Worker(redis_client, WorkerSettings(
                redis_url=redis_url, batch_size=4),
                load_detector("ssdlite-person", num_threads=1)).run, args=(stop,))
            worker.start()
            tracker = Tracker(redis_client, TrackerSettings(
                redis_url=redis_url, tracker_poll_s=0.05, reorder_ms=60_000, media_dir=tmp_path,
                event_end_after_s=0.2, event_pre_s=0.1, event_post_s=0.1))
            try:
                run_until(tracker, lambda: tracked_frame_id(redis_client) == last, timeout=300)
            finally:
                stop.set()
                worker.join(60)
            tracker.media.stop()

            # Every change published (the bridge's cursor is the stream's last entry).
            newest = redis_client.xrevrange(KEYS.event_updates, count=1)[0][0]
            wait_until(lambda: redis_client.get(KEYS.mqtt_cursor("replay-bridge")) == newest,
                       timeout=120, what="every event change to be published")
            events, _ = query_events(redis_client, KEYS, Query(limit=500))
            assert len(events) >= 3
            changes = redis_client.xlen(KEYS.event_updates)
            sub.wait(lambda: len(sub.on(t.events)) >= changes, what="every event message")
            messages = [json.loads(m.payload) for m in sub.on(t.events)]
            assert not any(m.retain for m in sub.on(t.events))
            for event in events:
                mine = [m for m in messages if m["after"]["id"] == event.id]
                kinds = [m["type"] for m in mine]
                assert kinds[0] == "new" and kinds.count("new") == 1, event.id
                assert kinds.count("end") == (event.end_ts is not None), event.id
                assert mine[-1]["after"] == event.to_dict()
                assert mine[0]["before"] == mine[0]["after"]
                for earlier, later in zip(mine, mine[1:]):
                    assert later["before"] == earlier["after"]

            # Retained state equal to cctv status once the bridge has read it.
            tracking = collect_status(redis_client, KEYS).cameras["cam"].tracking
            expected = {t.in_view("cam", "person"): str(tracking.in_view.get("person", 0)),
                        t.zone("cam", "left", "person"):
                            str(tracking.zones["left"].get("person", 0))}
            for direction, counts in (("in", tracking.lines["middle"].into),
                                      ("out", tracking.lines["middle"].out)):
                expected[t.line("cam", "middle", "person", direction)] = \
                    str(counts.get("person", 0))
            assert sum(int(v) for k, v in expected.items() if "/middle/" in k) == \
                sum(len(e.lines) for e in events)
            sub.wait(lambda: all((m := sub.latest(topic)) and m.payload.decode() == value
                                 for topic, value in expected.items()), what="the final counts")
            snapshots = sorted((e for e in events if e.snapshot), key=lambda e: e.start_ts)
            jpeg = (tmp_path / snapshots[-1].snapshot).read_bytes()
            sub.wait(lambda: (m := sub.latest(t.snapshot("cam", "person"))) and m.payload == jpeg,
                     what="the latest event's snapshot")
            assert jpeg.startswith(b"\xff\xd8")
            discovery = ["homeassistant/sensor/cctv_cam/person/config",
                         "homeassistant/sensor/cctv_cam/middle_person_in/config",
                         "homeassistant/sensor/cctv_cam/middle_person_out/config",
                         "homeassistant/sensor/cctv_cam/left_person/config",
                         "homeassistant/camera/cctv_cam/person_snapshot/config"]
            got = retained(broker.port, [*expected, t.snapshot("cam", "person"), *discovery])
            for topic, value in expected.items():
                assert got[topic].retain and got[topic].payload.decode() == value, topic
            assert got[t.snapshot("cam", "person")].payload == jpeg
            for topic in discovery:
                config = json.loads(got[topic].payload)
                assert config["availability_topic"] == t.available
                assert config.get("state_topic", config.get("topic")) in \
                    {*expected, t.snapshot("cam", "person")}
            stats = json.loads(sub.wait(lambda: sub.on(t.stats), what="stats")[-1].payload)
            assert stats["cameras"]["cam"]["state"] and "replay-bridge" in stats["mqtt"]
    finally:
        bridge.terminate()
        bridge.wait(30)
