"""``cctv mqtt`` as a process against a real mosquitto: the broker stopped for 10 s and started
again (empty: no persistence) gets the bridge back, ``online`` and every retained state topic,
with what changed meanwhile; a killed bridge reads ``offline`` by its last will, and ``online``
again once restarted; ``cctv mqtt --check`` follows the connection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mqtt_broker import PASSWORD, USER, Subscriber, retained, wait_until
from test_mqtt import change, person_event, seed_camera

from common.keys import KEYS
from common.mqtt import Topics
from runtime.status import collect_status

CLIENT_ID = "process-bridge"
OUTAGE_S = 10


def bridge_env(redis_url: str, port: int, tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, REDIS_URL=redis_url, MQTT_TEST_PASSWORD=PASSWORD,
                CCTV_MQTT_URL=f"mqtt://{USER}:${{MQTT_TEST_PASSWORD}}@127.0.0.1:{port}",
                CCTV_MQTT_CLIENT_ID=CLIENT_ID, CCTV_MEDIA_DIR=str(tmp_path / "media"),
                CCTV_MQTT_POLL_S="0.1", CCTV_MQTT_STATS_INTERVAL_S="5")


def start_bridge(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cctv", "mqtt"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def check(env: dict[str, str]) -> int:
    return subprocess.run([sys.executable, "-m", "cctv", "mqtt", "--check"], env=env,
                          capture_output=True, timeout=60).returncode


def bridge_state(client):
    return collect_status(client, KEYS).mqtt.get(CLIENT_ID)


@pytest.mark.slow
def test_broker_restart_and_last_will(broker, redis_client, redis_url, tmp_path):
    seed_camera(redis_client)
    t = Topics("cctv")
    env = bridge_env(redis_url, broker.port, tmp_path)
    log = tmp_path / "bridge.log"
    bridge = start_bridge(env, log)
    try:
        first = person_event(tmp_path)
        change(redis_client, "new", first)
        state_topics = [t.available, t.in_view("gate", "person"),
                        t.line("gate", "door", "person", "in"), t.zone("gate", "queue", "person"),
                        t.snapshot("gate", "person"),
                        "homeassistant/sensor/cctv_gate/person/config",
                        "homeassistant/camera/cctv_gate/person_snapshot/config"]
        before = retained(broker.port, state_topics, timeout=120)
        assert before[t.available].payload == b"online"
        wait_until(lambda: check(env) == 0, what="cctv mqtt --check to pass")

        # The broker goes away for 10 s; meanwhile a count changes and an event ends.
        broker.stop()
        wait_until(lambda: (s := bridge_state(redis_client)) and s.state == "offline",
                   what="the bridge's offline state")
        assert check(env) == 1
        redis_client.hset(KEYS.in_view("gate"), "person", 3)
        first.end_ts = first.last_ts = 1004.0
        change(redis_client, "end", first)
        time.sleep(OUTAGE_S)  # the outage itself (nothing is asserted on time)
        assert bridge.poll() is None, "the bridge exited while the broker was away"
        broker.start()  # on the same port, empty: no retained message survived

        wait_until(lambda: (s := bridge_state(redis_client)) and s.state == "online"
                   and s.connects == 2, timeout=120, what="the bridge to reconnect")
        after = retained(broker.port, state_topics, timeout=120)
        assert after[t.available].payload == b"online"
        assert after[t.in_view("gate", "person")].payload == b"3"  # changed while away
        for topic in state_topics[2:]:
            assert after[topic].payload == before[topic].payload and after[topic].retain, topic
        # The event that ended meanwhile waited in Redis and is published now.
        last_change = redis_client.xrevrange(KEYS.event_updates, count=1)[0][0]
        wait_until(lambda: redis_client.get(KEYS.mqtt_cursor(CLIENT_ID)) == last_change,
                   what="the event changes of the outage to be published")
        state = wait_until(lambda: (s := bridge_state(redis_client)) and s.buffered == 0 and s,
                           what="the buffer to empty")
        assert state.dropped == 0
        text = log.read_text()
        assert text.count("connection lost") == 1 and text.count("connected again after") == 1
        assert PASSWORD not in text

        # A bridge that dies reads offline (its last will), then online once restarted.
        with Subscriber(broker.port) as sub:
            sub.wait(lambda: sub.latest(t.available), what="available")
            bridge.send_signal(signal.SIGKILL)
            bridge.wait(30)
            sub.wait(lambda: sub.latest(t.available).payload == b"offline",
                     what="the last will")
            assert retained(broker.port, [t.available])[t.available].payload == b"offline"
            bridge = start_bridge(env, log)
            sub.wait(lambda: sub.latest(t.available).payload == b"online", timeout=120,
                     what="online again")
        # The restart did not publish the events it had published before it was killed.
        ends = [m for m in sub.messages if m.topic == t.events]
        assert not any(json.loads(m.payload)["after"]["id"] == first.id for m in ends)
    finally:
        if bridge.poll() is None:
            bridge.terminate()
            bridge.wait(30)
