"""Home Assistant MQTT discovery: the config payloads that make each camera a device with a
sensor per class (objects in view now), per line, class and direction (running totals), per zone
and class (occupancy), and a camera entity per class showing the latest event's snapshot.

Every entity's availability is the bridge's ``<prefix>/available`` (online, or offline by the
bridge's last will). Configs are retained, under
``<discovery prefix>/<component>/<node id>/<object id>/config`` (HA's documented layout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.mqtt import Topics

ORIGIN = {"name": "cctv-analytics"}
_ID = re.compile(r"[^A-Za-z0-9_-]")


def ident(*parts: str) -> str:
    """A discovery node or object id: ``[A-Za-z0-9_-]`` only."""
    return _ID.sub("_", "_".join(parts))


@dataclass(frozen=True)
class Discovery:
    """Discovery configs for one bridge's topics."""

    topics: Topics
    prefix: str = "homeassistant"
    version: str = ""

    @property
    def _node(self) -> str:
        return ident(self.topics.prefix)

    def _topic(self, component: str, camera: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{ident(self._node, camera)}/{ident(object_id)}/config"

    def _common(self, camera: str, object_id: str, name: str) -> dict:
        return {
            "name": name,
            "unique_id": ident(self._node, camera, object_id),
            "availability_topic": self.topics.available,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {"identifiers": [ident(self._node, camera)], "name": camera,
                       "manufacturer": "cctv-analytics", "model": "CCTV camera analytics",
                       **({"sw_version": self.version} if self.version else {})},
            "origin": {**ORIGIN, **({"sw_version": self.version} if self.version else {})},
        }

    def in_view(self, camera: str, label: str) -> tuple[str, dict]:
        """Sensor: objects of ``label`` in view now."""
        object_id = label
        return self._topic("sensor", camera, object_id), {
            **self._common(camera, object_id, f"{label} count"),
            "state_topic": self.topics.in_view(camera, label),
            "state_class": "measurement", "unit_of_measurement": "objects",
            "icon": "mdi:eye"}

    def line(self, camera: str, line: str, label: str, direction: str) -> tuple[str, dict]:
        """Sensor: objects of ``label`` that crossed ``line`` in ``direction``, in total."""
        object_id = f"{line}_{label}_{direction}"
        return self._topic("sensor", camera, object_id), {
            **self._common(camera, object_id, f"{line} {label} {direction}"),
            "state_topic": self.topics.line(camera, line, label, direction),
            "state_class": "total_increasing", "unit_of_measurement": "objects",
            "icon": "mdi:counter"}

    def zone(self, camera: str, zone: str, label: str) -> tuple[str, dict]:
        """Sensor: objects of ``label`` in ``zone`` now."""
        object_id = f"{zone}_{label}"
        return self._topic("sensor", camera, object_id), {
            **self._common(camera, object_id, f"{zone} {label}"),
            "state_topic": self.topics.zone(camera, zone, label),
            "state_class": "measurement", "unit_of_measurement": "objects",
            "icon": "mdi:vector-polygon"}

    def snapshot(self, camera: str, label: str) -> tuple[str, dict]:
        """Camera: the latest ``label`` event's snapshot (raw JPEG on the topic)."""
        object_id = f"{label}_snapshot"
        return self._topic("camera", camera, object_id), {
            **self._common(camera, object_id, f"{label} snapshot"),
            "topic": self.topics.snapshot(camera, label)}
