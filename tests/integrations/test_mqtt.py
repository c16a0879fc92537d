"""The MQTT bridge against a real mosquitto, with the tracker's Redis keys and event stream
written directly: topics, payloads and retained flags, change-only state, events with
before/after, snapshots, stats, the bridge's state in ``cctv status``, a restart that goes on
after the last published event, buffering while the broker is away, TLS and masking."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from mqtt_broker import PASSWORD, USER, Mosquitto, Subscriber, retained, wait_until

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.events import Event, EventCrossing
from common.keys import KEYS
from common.mqtt import BridgeState, Topics, topic_level
from common.schema import SettingsError
from integrations.broker import Outbox, broker_from_url
from integrations.mqtt import run_bridge
from integrations.settings import MqttSettings
from runtime.camera_list import store_camera
from runtime.redis_conn import EmbeddedRedis
from runtime.settings import from_env
from runtime.status import collect_status
from tracking.events import Change, Changes, write_changes

CLIENT_ID = "test-bridge"


def bridge_settings(redis_url: str, port: int, tmp_path: Path, **overrides) -> MqttSettings:
    values = dict(redis_url=redis_url, media_dir=tmp_path / "media",
                  mqtt_url=f"mqtt://{USER}:${{MQTT_TEST_PASSWORD}}@127.0.0.1:{port}",
                  mqtt_client_id=CLIENT_ID, mqtt_stats_interval_s=1, mqtt_poll_s=0.1)
    return MqttSettings(**(values | overrides))


@contextmanager
def running_bridge(client, settings: MqttSettings):
    stop = threading.Event()
    thread = threading.Thread(target=run_bridge, args=(client, settings, stop))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "the bridge did not stop"


def jpeg(tmp_path: Path, name: str, value: int) -> str:
    """Write a small JPEG under the media folder; its name relative to it."""
    path = tmp_path / "media" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), value, np.uint8))
    path.write_bytes(data.tobytes())
    return name


def seed_camera(client) -> None:
    store_camera(client, KEYS, CameraConfig(
        name="gate", url="/videos/gate.mp4",
        lines=[LineConfig(name="door", points=[(0.5, 0.0), (0.5, 1.0)])],
        zones=[ZoneConfig(name="queue", points=[(0, 0), (1, 0), (1, 1)])]))
    client.hset(KEYS.in_view("gate"), mapping={"person": 2})
    client.hset(KEYS.track_stats("gate"), mapping={"unique:person": 3, "in:door:person": 2,
                                                   "out:door:person": 1, "unique:car": 1})
    client.hset(KEYS.zones("gate"), mapping={"queue:person": 1})


def change(client, kind: str, event: Event) -> None:
    """What the tracker writes for one event change (record, open set, lifecycle stream)."""
    write_changes(client, KEYS, event.camera, Changes(events=[Change(kind, event)]))


def person_event(tmp_path: Path, ident: str = "gate.1000.7", start: float = 1000.0) -> Event:
    return Event(ident, "gate", "person", start, top_score=0.8, track_id=7, last_ts=start,
                 snapshot=jpeg(tmp_path, f"gate/1970-01-01/{ident}.jpg", 100))


@pytest.fixture
def password_env(monkeypatch):
    monkeypatch.setenv("MQTT_TEST_PASSWORD", PASSWORD)


def test_topics_payloads_retained_flags_and_status(broker, redis_client, redis_url, tmp_path,
                                                   password_env):
    seed_camera(redis_client)
    event = person_event(tmp_path)
    change(redis_client, "new", event)  # before the bridge's first start: not replayed
    settings = bridge_settings(redis_url, broker.port, tmp_path)
    t = Topics("cctv")
    with Subscriber(broker.port) as sub, running_bridge(redis_client, settings):
        sub.wait(lambda: sub.latest(t.zone("gate", "queue", "person")), what="state topics")
        assert sub.latest(t.available).payload == b"online"
        expected = {t.in_view("gate", "person"): b"2", t.in_view("gate", "car"): b"0",
                    t.line("gate", "door", "person", "in"): b"2",
                    t.line("gate", "door", "person", "out"): b"1",
                    t.line("gate", "door", "car", "in"): b"0",
                    t.zone("gate", "queue", "person"): b"1", t.zone("gate", "queue", "car"): b"0"}
        got = retained(broker.port, [*expected, t.available, t.snapshot("gate", "person")])
        for topic, payload in expected.items():
            assert (got[topic].payload, got[topic].retain) == (payload, True), topic
        assert got[t.available].retain
        # The latest event's snapshot (found at start, before any change was read).
        snap = got[t.snapshot("gate", "person")]
        assert snap.retain and snap.payload == (tmp_path / "media" / event.snapshot).read_bytes()

        # Event changes: new, update (entered a zone, crossed the line), end.
        event.zones.append("queue")
        event.lines.append(EventCrossing("door", "in"))
        change(redis_client, "update", event)
        event.end_ts = event.last_ts = 1003.0
        change(redis_client, "end", event)
        events = sub.wait(lambda: len(sub.on(t.events)) >= 2 and sub.on(t.events),
                          what="event messages")
        assert [json.loads(m.payload)["type"] for m in events] == ["update", "end"]
        assert not any(m.retain for m in events)
        update, end = (json.loads(m.payload) for m in events)
        assert update["after"]["zones"] == ["queue"]
        assert update["after"]["lines"] == [{"name": "door", "direction": "in"}]
        assert update["before"] == update["after"]  # the bridge had not seen this event before
        assert end["before"] == update["after"] and end["after"]["end_ts"] == 1003.0
        assert set(end["after"]) >= {"id", "camera", "label", "start_ts", "end_ts", "top_score",
                                     "zones", "lines", "has_snapshot", "has_clip"}

        # A new event: before == after on new; its snapshot replaces the retained one.
        second = person_event(tmp_path, "gate.2000.9", 2000.0)
        jpeg(tmp_path, second.snapshot, 200)
        change(redis_client, "new", second)
        new = json.loads(sub.wait(lambda: len(sub.on(t.events)) >= 3 and sub.on(t.events)[2],
                                  what="new event").payload)
        assert new["type"] == "new" and new["before"] == new["after"]
        assert new["after"]["id"] == "gate.2000.9"
        sub.wait(lambda: sub.latest(t.snapshot("gate", "person")).payload ==
                 (tmp_path / "media" / second.snapshot).read_bytes(), what="the new snapshot")

        # State topics are published on change only.
        redis_client.hset(KEYS.in_view("gate"), "person", 2)
        redis_client.hset(KEYS.in_view("gate"), "person", 0)
        sub.wait(lambda: sub.latest(t.in_view("gate", "person")).payload == b"0", what="0")
        assert [m.payload for m in sub.on(t.in_view("gate", "person"))] == [b"2", b"0"]

        # A malformed entry is skipped; the next one is published.
        redis_client.xadd(KEYS.event_updates, {"v": "1", "type": "new", "event": "{not json"})
        change(redis_client, "end", second)
        sub.wait(lambda: len(sub.on(t.events)) >= 4, what="the change after a bad entry")
        assert json.loads(sub.on(t.events)[3].payload)["type"] == "end"
        # A camera whose key holds another type is skipped; the others go on.
        store_camera(redis_client, KEYS, CameraConfig(name="broken", url="/videos/b.mp4"))
        redis_client.set(KEYS.in_view("broken"), "not a hash")
        redis_client.hset(KEYS.in_view("gate"), "person", 1)
        sub.wait(lambda: sub.latest(t.in_view("gate", "person")).payload == b"1", what="1")

        # The status document, every stats_interval_s, not retained; the bridge is in it.
        stats = sub.wait(lambda: sub.on(t.stats), what="stats")[-1]
        document = json.loads(stats.payload)
        assert not stats.retain and "gate" in document["cameras"]
        assert document["cameras"]["gate"]["tracking"]["in_view"] in ({"person": 0},
                                                                      {"person": 1})
        state = wait_until(lambda: collect_status(redis_client, KEYS).mqtt.get(CLIENT_ID))
        assert state.state == "online" and state.error == "" and state.published > 10
        assert state.broker == f"mqtt://{USER}:${{MQTT_TEST_PASSWORD}}@127.0.0.1:{broker.port}"
        assert PASSWORD not in json.dumps(collect_status(redis_client, KEYS).to_dict())
    # Stopped cleanly: offline, retained; no longer listed as running.
    with Subscriber(broker.port) as sub:
        assert sub.wait(lambda: sub.latest(t.available)).payload == b"offline"
    assert CLIENT_ID not in collect_status(redis_client, KEYS).mqtt


def test_restart_goes_on_after_the_last_published_event(broker, redis_client, redis_url,
                                                        tmp_path, password_env):
    seed_camera(redis_client)
    settings = bridge_settings(redis_url, broker.port, tmp_path, mqtt_discovery=False)
    t = Topics("cctv")
    first = person_event(tmp_path)
    with Subscriber(broker.port) as sub, running_bridge(redis_client, settings):
        sub.wait(lambda: sub.latest(t.in_view("gate", "person")), what="state")
        change(redis_client, "new", first)
        sub.wait(lambda: sub.on(t.events), what="the first event")
    assert not any(topic.startswith("homeassistant/") for topic in sub.topics())
    second = person_event(tmp_path, "gate.2000.9", 2000.0)
    change(redis_client, "new", second)  # while the bridge is stopped
    with Subscriber(broker.port) as sub, running_bridge(redis_client, settings):
        third = person_event(tmp_path, "gate.3000.1", 3000.0)
        change(redis_client, "new", third)
        sub.wait(lambda: len(sub.on(t.events)) >= 2, what="the events after the restart")
        ids = [json.loads(m.payload)["after"]["id"] for m in sub.on(t.events)]
        assert ids[:2] == ["gate.2000.9", "gate.3000.1"]  # not gate.1000.7 again


def test_events_wait_in_a_bounded_buffer_while_the_broker_is_away(broker, tmp_path):
    settings = MqttSettings(mqtt_url=f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{broker.port}",
                            mqtt_buffer=10)
    outbox = Outbox(broker_from_url(settings.mqtt_url), settings, Topics("cctv"), "buffer-test")
    for i in range(15):  # not connected yet: buffered, the 5 oldest dropped
        outbox.event("cctv/events", json.dumps({"n": i}))
    outbox.retain("cctv/gate/person", "1")
    outbox.retain("cctv/gate/person", "1")  # unchanged: nothing more
    assert (len(outbox.buffer), outbox.dropped) == (10, 5)
    with Subscriber(broker.port) as sub:
        outbox.start()
        try:
            sub.wait(lambda: len(sub.on("cctv/events")) >= 10, what="the buffered events")
            assert [json.loads(m.payload)["n"] for m in sub.on("cctv/events")] == \
                list(range(5, 15))
            assert [m.payload for m in sub.on("cctv/gate/person")] == [b"1"]
            assert outbox.snapshot().state == "online" and outbox.snapshot().buffered == 0
        finally:
            outbox.stop()


def test_wrong_credentials_are_one_clear_error_in_the_log_and_in_status(
        broker, redis_client, redis_url, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MQTT_TEST_PASSWORD", "not-the-password")
    settings = bridge_settings(redis_url, broker.port, tmp_path)
    caplog.set_level(logging.INFO, logger="cctv.mqtt")
    with running_bridge(redis_client, settings):
        # paho retries (with backoff): wait for two refused attempts at the broker
        wait_until(lambda: broker.log_text().count("not authorised") >= 2, timeout=90,
                   what="two refused connections")
        state = wait_until(lambda: collect_status(redis_client, KEYS).mqtt.get(CLIENT_ID),
                           what="the bridge's state")
        wait_until(lambda: collect_status(redis_client, KEYS).mqtt[CLIENT_ID].state == "refused",
                   what="the refused state")
        state = collect_status(redis_client, KEYS).mqtt[CLIENT_ID]
    assert "refused the connection: Not authorized" in state.error
    assert "check the user name and password in CCTV_MQTT_URL" in state.error
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR
    assert "not-the-password" not in caplog.text


def test_cctv_status_shows_the_bridge(broker, redis_client, redis_url, tmp_path, password_env):
    import os
    import sys

    settings = bridge_settings(redis_url, broker.port, tmp_path)
    with running_bridge(redis_client, settings):
        wait_until(lambda: CLIENT_ID in collect_status(redis_client, KEYS).mqtt)
        env = dict(os.environ, REDIS_URL=redis_url)
        text = subprocess.run([sys.executable, "-m", "cctv", "status"], env=env, check=True,
                              capture_output=True, text=True, timeout=60).stdout
        document = json.loads(subprocess.run([sys.executable, "-m", "cctv", "status", "--json"],
                                             env=env, check=True, capture_output=True,
                                             text=True, timeout=60).stdout)
    assert f"mqtt {CLIENT_ID}: online mqtt://{USER}:${{MQTT_TEST_PASSWORD}}@127.0.0.1" in text
    assert document["mqtt"][CLIENT_ID]["state"] == "online"


def test_broker_url_credentials_and_masking(monkeypatch):
    monkeypatch.setenv("PW", "p@ss:w/rd")
    broker = broker_from_url("mqtts://cam%40home:${PW}@broker.example")
    assert (broker.host, broker.port, broker.tls) == ("broker.example", 8883, True)
    assert (broker.username, broker.password) == ("cam@home", "p@ss:w/rd")
    assert broker.masked == "mqtts://cam%40home:${PW}@broker.example"
    literal = broker_from_url("mqtt://user:hunter2@10.0.0.2:1884")
    assert (literal.port, literal.password, literal.masked) == \
        (1884, "hunter2", "mqtt://***@10.0.0.2:1884")
    assert broker_from_url("mqtt://host").username is None
    with pytest.raises(SettingsError, match="MISSING_PW .*is not set"):
        broker_from_url("mqtt://u:${MISSING_PW}@host", {})
    for url, why in [("http://host", "mqtt:// or mqtts://"), ("mqtt://:1883", "needs a host"),
                     ("mqtt://u:pw@host:0", "port"), ("mqtt://host/x", "no path")]:
        with pytest.raises(SettingsError, match=why) as err:
            from_env(MqttSettings, {"CCTV_MQTT_URL": url})
        assert "pw@" not in str(err.value)
    with pytest.raises(SettingsError, match="CCTV_MQTT_TOPIC_PREFIX"):
        from_env(MqttSettings, {"CCTV_MQTT_TOPIC_PREFIX": "cctv/#"})
    assert topic_level("traffic light/+#") == "traffic_light___"


def test_tls_is_verified(tmp_path):
    """mqtts:// with the broker's CA connects; without it the certificate is refused, said in
    one line."""
    folder = tmp_path / "tls"
    folder.mkdir()
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = Mosquitto(folder, tls=(cert, key))
    server.start()
    try:
        url = f"mqtts://127.0.0.1:{server.port}"
        trusted = MqttSettings(mqtt_url=url, mqtt_ca_certs=cert)
        outbox = Outbox(broker_from_url(url), trusted, Topics("cctv"), "tls-ok")
        outbox.start()
        try:
            wait_until(lambda: outbox.snapshot().state == "online", what="a TLS connection")
        finally:
            outbox.stop()
        outbox = Outbox(broker_from_url(url), MqttSettings(mqtt_url=url), Topics("cctv"),
                        "tls-untrusted")
        outbox.start()
        try:
            state = wait_until(lambda: outbox.snapshot().error and outbox.snapshot(),
                               what="the refused certificate")
            assert state.state == "offline" and "CERTIFICATE_VERIFY_FAILED" in state.error
        finally:
            outbox.stop()
    finally:
        server.stop()


def test_bridge_state_record_round_trips():
    state = BridgeState("b1", "refused", "mqtt://***@h:1883", "refused the connection: x", 1.5,
                        2.5, 3, 4, 5, 6)
    assert BridgeState.from_fields({k.encode(): v.encode()
                                    for k, v in state.to_fields().items()}) == state


def test_a_redis_outage_is_ridden_out(broker, tmp_path, password_env, caplog):
    """Redis stopped under a running bridge: one line when it goes, one when it is back, the
    broker side stays up, and changes made after it came back (empty) are published."""
    folder = tmp_path / "redis"
    server = EmbeddedRedis(folder, unix_socket=folder / "redis.sock")
    server.start()
    client = server.client(socket_timeout=5)
    caplog.set_level(logging.INFO, logger="cctv.mqtt")
    t = Topics("cctv")
    try:
        seed_camera(client)
        settings = bridge_settings(server.url, broker.port, tmp_path)
        with Subscriber(broker.port) as sub, running_bridge(client, settings):
            sub.wait(lambda: sub.latest(t.in_view("gate", "person")), what="state")
            server.stop()
            wait_until(lambda: "Redis unreachable" in caplog.text, what="the outage's log line")
            server.start()  # empty: no persistence
            seed_camera(client)
            client.hset(KEYS.in_view("gate"), "person", 5)
            change(client, "new", person_event(tmp_path, "gate.5000.1", 5000.0))
            sub.wait(lambda: sub.latest(t.in_view("gate", "person")).payload == b"5",
                     what="a count after the outage")
            sub.wait(lambda: sub.on(t.events), what="an event after the outage")
            wait_until(lambda: "Redis is back after" in caplog.text, what="the back line")
            assert caplog.text.count("Redis unreachable") == 1
            assert all(m.payload == b"online" for m in sub.on(t.available))
    finally:
        client.close()
        server.stop()
