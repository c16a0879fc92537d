"""Home Assistant discovery payloads against the keys HA documents for MQTT sensors and cameras
(home-assistant.io/integrations/sensor.mqtt, camera.mqtt, and the MQTT discovery page for
``device`` and ``origin``): every key is a documented one, the required ones are there, values
have the documented types and choices, ids are unique and the topics follow
``<prefix>/<component>/<node_id>/<object_id>/config``."""

from __future__ import annotations

import json
import re

import pytest

from common.mqtt import Topics
from integrations.homeassistant import Discovery

# Keys every MQTT entity accepts (the availability and entity options of both pages).
ENTITY = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "default_entity_id", "device", "enabled_by_default", "encoding", "entity_category",
    "entity_picture", "icon", "json_attributes_template", "json_attributes_topic", "name",
    "object_id", "origin", "payload_available", "payload_not_available", "platform", "qos",
    "unique_id",
}
SENSOR = ENTITY | {
    "device_class", "expire_after", "force_update", "last_reset_value_template", "options",
    "state_class", "state_topic", "suggested_display_precision", "unit_of_measurement",
    "value_template",
}
CAMERA = ENTITY | {"image_encoding", "topic"}
REQUIRED = {"sensor": {"state_topic"}, "camera": {"topic"}}
ALLOWED = {"sensor": SENSOR, "camera": CAMERA}
DEVICE = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer",
          "model", "model_id", "name", "serial_number", "suggested_area", "sw_version",
          "via_device"}
ORIGIN = {"name", "sw_version", "support_url"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
TOPIC = re.compile(r"^homeassistant/(sensor|camera)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config$")


def payloads(discovery: Discovery) -> list[tuple[str, dict]]:
    return [discovery.in_view("gate", "person"), discovery.in_view("gate", "traffic light"),
            discovery.line("gate", "door", "person", "in"),
            discovery.line("gate", "door", "person", "out"),
            discovery.zone("gate", "queue", "person"), discovery.snapshot("gate", "person"),
            discovery.in_view("yard.2", "car")]


@pytest.mark.parametrize("prefix", ["cctv", "site/one"])
def test_discovery_payloads_use_documented_keys(prefix):
    topics = Topics(prefix)
    found = payloads(Discovery(topics, "homeassistant", "1.2.3"))
    ids = [config["unique_id"] for _, config in found]
    assert len(set(ids)) == len(ids)
    assert len({topic for topic, _ in found}) == len(found)
    for topic, config in found:
        match = TOPIC.match(topic)
        assert match, topic
        component = match.group(1)
        assert set(config) <= ALLOWED[component], set(config) - ALLOWED[component]
        assert REQUIRED[component] <= set(config)
        assert set(config["device"]) <= DEVICE and config["device"]["identifiers"]
        assert all(isinstance(i, str) for i in config["device"]["identifiers"])
        assert set(config["origin"]) <= ORIGIN and config["origin"]["name"]
        assert config["availability_topic"] == f"{prefix}/available"
        assert (config["payload_available"], config["payload_not_available"]) == \
            ("online", "offline")
        assert re.match(r"^[A-Za-z0-9_-]+$", config["unique_id"])
        if component == "sensor":
            assert config["state_class"] in STATE_CLASSES
            assert config["state_topic"].startswith(f"{prefix}/")
            assert "+" not in config["state_topic"] and "#" not in config["state_topic"]
        else:
            assert config["topic"].endswith("/snapshot")
        assert json.loads(json.dumps(config)) == config


def test_discovery_state_topics_are_the_bridges():
    topics = Topics("cctv")
    discovery = Discovery(topics)
    assert discovery.in_view("gate", "person")[1]["state_topic"] == "cctv/gate/person"
    assert discovery.line("gate", "door", "person", "in")[1]["state_topic"] == \
        "cctv/gate/door/person/in"
    assert discovery.line("gate", "door", "person", "in")[1]["state_class"] == \
        "total_increasing"
    assert discovery.zone("gate", "queue", "person")[1]["state_topic"] == \
        "cctv/gate/queue/person"
    assert discovery.snapshot("gate", "person")[1]["topic"] == "cctv/gate/person/snapshot"
    assert discovery.in_view("gate", "traffic light")[1]["state_topic"] == \
        "cctv/gate/traffic_light"
    # One device per camera: every entity of a camera names the same one.
    devices = {json.dumps(c["device"], sort_keys=True) for _, c in payloads(discovery)[:6]}
    assert len(devices) == 1
