"""Two MQTT bridges on one broker and prefix (other client ids) against a real mosquitto: one that
stops cleanly leaves ``<prefix>/available`` ``online`` while the other runs, a stale ``offline``
is corrected by the running bridge, and the last one to stop says ``offline``."""

from __future__ import annotations

import paho.mqtt.client as paho
import pytest
from mqtt_broker import PASSWORD, USER, retained, wait_until
from test_mqtt import CLIENT_ID, bridge_settings, password_env, running_bridge  # noqa: F401

from common.keys import KEYS
from common.mqtt import Topics
from runtime.bridge_state import read_bridge_states

AVAILABLE = Topics("cctv").available


def available(port: int) -> bytes:
    """The retained payload of ``cctv/available`` as a new subscriber gets it."""
    return retained(port, [AVAILABLE])[AVAILABLE].payload


def publish_retained(port: int, topic: str, payload: bytes) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.username_pw_set(USER, PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.usefixtures("password_env")
def test_a_bridge_stopping_beside_another_leaves_available_online(broker, redis_client, redis_url,
                                                                  tmp_path):
    first = bridge_settings(redis_url, broker.port, tmp_path, mqtt_discovery=False)
    second = bridge_settings(redis_url, broker.port, tmp_path, mqtt_discovery=False,
                             mqtt_client_id="test-bridge-2")
    with running_bridge(redis_client, first):
        with running_bridge(redis_client, second):
            wait_until(lambda: {s.client_id for s in read_bridge_states(redis_client, KEYS)
                                .values() if s.state == "online" and s.prefix == "cctv"}
                       == {CLIENT_ID, "test-bridge-2"}, what="both bridges online")
        assert "test-bridge-2" not in read_bridge_states(redis_client, KEYS)
        assert available(broker.port) == b"online"

        # An offline left behind (a bridge that stopped without seeing this one) is corrected.
        publish_retained(broker.port, AVAILABLE, b"offline")
        wait_until(lambda: available(broker.port) == b"online", timeout=30,
                   what="online re-asserted")
    assert available(broker.port) == b"offline"  # the last bridge stopped: offline
