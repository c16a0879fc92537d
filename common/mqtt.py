"""The MQTT bridge's state as it keeps it in Redis (``cctv:mqtt-bridge:{client id}``, a hash with
a TTL renewed while it runs), read by ``cctv status``; and the topic names it publishes, so that
every reader agrees on them (docs/protocol.md#mqtt)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from .fields import Fields, MessageError, field_float, field_int, field_text

BRIDGE_STATES = ("connecting", "online", "offline", "refused")
"""``connecting`` (first try), ``online``, ``offline`` (the broker went away or cannot be
reached: retrying with backoff), ``refused`` (the broker refused the connection, e.g. the
credentials: retrying, slowly)."""

STATE_TTL_S = 30
"""A bridge's state hash expires this long after its last write (it writes every few seconds)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def topic_level(name: str) -> str:
    """A camera, label, line or zone name as one topic level: ``/``, ``+``, ``#``, spaces and
    other characters outside ``[A-Za-z0-9_.-]`` become ``_`` (``traffic light`` ->
    ``traffic_light``)."""
    return _UNSAFE.sub("_", name) or "_"


@dataclass(frozen=True)
class Topics:
    """The bridge's topics under ``prefix`` (docs/protocol.md#mqtt)."""

    prefix: str = "cctv"

    @property
    def available(self) -> str:
        return f"{self.prefix}/available"

    @property
    def events(self) -> str:
        return f"{self.prefix}/events"

    @property
    def stats(self) -> str:
        return f"{self.prefix}/stats"

    def in_view(self, camera: str, label: str) -> str:
        return f"{self.prefix}/{topic_level(camera)}/{topic_level(label)}"

    def snapshot(self, camera: str, label: str) -> str:
        return f"{self.in_view(camera, label)}/snapshot"

    def line(self, camera: str, line: str, label: str, direction: str) -> str:
        return f"{self.prefix}/{topic_level(camera)}/{topic_level(line)}/{topic_level(label)}/" \
               f"{direction}"

    def zone(self, camera: str, zone: str, label: str) -> str:
        return f"{self.prefix}/{topic_level(camera)}/{topic_level(zone)}/{topic_level(label)}"


@dataclass(frozen=True)
class BridgeState:
    """One bridge: ``state`` (:data:`BRIDGE_STATES`), ``broker`` (masked URL), ``error`` (the
    last connection problem, masked; empty once online), ``since`` (when ``state`` began),
    ``ts`` (last write), messages ``published``, event messages ``dropped`` (buffer full while
    offline), ``buffered`` now, ``connects`` (successful connections since start), ``prefix``
    (the topic prefix it publishes under)."""

    client_id: str
    state: str
    broker: str = ""
    error: str = ""
    since: float = 0.0
    ts: float = 0.0
    published: int = 0
    dropped: int = 0
    buffered: int = 0
    connects: int = 0
    prefix: str = ""

    def to_fields(self) -> dict[str, str]:
        return {f.name: repr(v) if isinstance(v, float) else str(v)
                for f in fields(self) for v in (getattr(self, f.name),)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_fields(cls, data: Fields) -> "BridgeState":
        state = field_text(data, "state")
        if state not in BRIDGE_STATES:
            raise MessageError(f"unknown bridge state {state[:20]!r}")
        return cls(field_text(data, "client_id"), state, field_text(data, "broker", ""),
                   field_text(data, "error", ""), field_float(data, "since", 0.0),
                   field_float(data, "ts", 0.0), field_int(data, "published", 0),
                   field_int(data, "dropped", 0), field_int(data, "buffered", 0),
                   field_int(data, "connects", 0), field_text(data, "prefix", ""))
