"""The MQTT side of the bridge: the broker's address from ``CCTV_MQTT_URL``, and :class:`Outbox`,
one paho client that publishes, remembers the retained state and buffers events while the broker
is away.

paho's network thread (``loop_start``) reconnects by itself, with a doubling delay up to
:data:`RECONNECT_MAX_S`. Retained topics are kept here by topic (the newest payload only): a
change is published once, and on every (re)connection the bridge publishes ``online`` and then
all of them again, so a broker that lost its retained messages gets them back (``online`` is
also re-asserted periodically: another bridge on the same prefix may have stopped and said
``offline``). Event messages
published while the broker is away wait in a bounded buffer (the oldest dropped and counted).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho

from common.mqtt import BridgeState, Topics
from common.schema import SettingsError
from common.urls import mask_text, mask_url

from .settings import MqttSettings

log = logging.getLogger("cctv.mqtt")

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30
QOS = 1
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Broker:
    """Where and how to connect: ``password`` has its ``${VAR}`` expanded; ``masked`` is what
    logs and ``cctv status`` show."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    masked: str


def broker_from_url(url: str, environ: os._Environ | dict[str, str] | None = None) -> Broker:
    """``mqtt[s]://[user[:password]@]host[:port]`` (checked by the settings) as a :class:`Broker`;
    ``${VAR}`` in the user info is read from ``environ`` (SettingsError when it is not set)."""
    environ = os.environ if environ is None else environ

    def expand(text: str) -> str:
        def sub(match: re.Match) -> str:
            if match.group(1) not in environ:
                raise SettingsError(f"environment variable {match.group(1)} (used in "
                                    "CCTV_MQTT_URL) is not set")
            return environ[match.group(1)]
        return _PLACEHOLDER.sub(sub, text)

    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    userinfo, at, _ = parts.netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(expand(user))
        password = unquote(expand(secret)) if colon else None
    return Broker(parts.hostname or "", parts.port or (8883 if tls else 1883), tls, username,
                  password, mask_url(url))


class Outbox:
    """One MQTT connection: retained state by topic, a bounded buffer of events, counters."""

    def __init__(self, broker: Broker, settings: MqttSettings, topics: Topics, client_id: str):
        self.broker, self.topics, self.client_id = broker, topics, client_id
        self.keepalive = settings.mqtt_keepalive_s
        self.retained: dict[str, bytes] = {}
        self.buffer: deque[tuple[str, bytes]] = deque(maxlen=settings.mqtt_buffer)
        self.connected = False
        self.state = BridgeState(client_id, "connecting", broker.masked, since=time.time())
        self.published = self.dropped = self.connects = 0
        self._lock = threading.RLock()
        self._stopping = False
        self._reported = ""  # the problem last logged (each is logged once until connected)
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=paho.MQTTv311)
        if broker.username is not None:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:  # verified against the system's CAs, or mqtt_ca_certs; host name checked
            self.client.tls_set(ca_certs=str(settings.mqtt_ca_certs)
                                if settings.mqtt_ca_certs else None)
        self.client.will_set(topics.available, "offline", qos=QOS, retain=True)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail

    # -- connection --------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (the first try here, to log why it fails), then let paho's thread keep the
        connection."""
        try:
            self.client.connect(self.broker.host, self.broker.port, self.keepalive)
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS verification
            self._problem("offline", f"cannot connect: {mask_text(str(exc)) or type(exc).__name__}")
            self.client.connect_async(self.broker.host, self.broker.port, self.keepalive)
        self.client.loop_start()

    def stop(self, offline: bool = True) -> None:
        """Publish ``offline`` unless told not to (another bridge on this prefix is online; a
        clean disconnect sends no last will) and disconnect."""
        with self._lock:
            self._stopping = True
            was_connected, self.connected = self.connected, False
        if was_connected and offline:
            info = self.client.publish(self.topics.available, "offline", qos=QOS, retain=True)
            try:
                info.wait_for_publish(5)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    def _problem(self, state: str, error: str) -> None:
        with self._lock:
            if self.state.state != state:
                self._set_state(state, error)
            else:
                self.state = BridgeState(self.client_id, state, self.broker.masked, error,
                                         self.state.since)
            if error != self._reported:
                self._reported = error
                level = logging.ERROR if state == "refused" else logging.WARNING
                log.log(level, "MQTT broker %s: %s; retrying with backoff up to %ds",
                        self.broker.masked, error, RECONNECT_MAX_S)

    def _set_state(self, state: str, error: str = "") -> None:
        self.state = BridgeState(self.client_id, state, self.broker.masked, error, time.time())

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            hint = " (check the user name and password in CCTV_MQTT_URL)" \
                if reason.value in (134, 135) else ""
            self._problem("refused", f"refused the connection: {reason}{hint}")
            return
        with self._lock:
            if self._stopping:
                return
            down_s = time.time() - self.state.since
            if self.connects:
                log.warning("MQTT broker %s: connected again after %.1fs", self.broker.masked,
                            down_s)
            else:
                log.info("MQTT broker %s: connected as %s", self.broker.masked, self.client_id)
            self.connected, self._reported = True, ""
            self.connects += 1
            self._set_state("online")
            self._send(self.topics.available, b"online", True)
            for topic, payload in self.retained.items():
                self._send(topic, payload, True)
            while self.buffer:
                self._send(*self.buffer.popleft(), False)

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        with self._lock:
            was_connected, self.connected = self.connected, False
            if self._stopping or not was_connected:
                return
        self._problem("offline", f"connection lost ({reason})")

    def _on_connect_fail(self, client, userdata) -> None:
        """A retry that did not connect: news only if the broker was reachable before (the
        first failure's own reason, a TLS error say, stays in the state)."""
        if not self._stopping and self.state.state != "offline":
            self._problem("offline", "cannot connect (broker unreachable)")

    # -- publishing ----------------------------------------------------------------------------
    def _send(self, topic: str, payload: bytes, retain: bool) -> None:
        info = self.client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
        else:
            self.published += 1

    def retain(self, topic: str, payload: bytes | str) -> bool:
        """Publish a state topic (retained) if it changed; True when it did."""
        data = payload.encode() if isinstance(payload, str) else payload
        with self._lock:
            if self.retained.get(topic) == data:
                return False
            self.retained[topic] = data
            if self.connected:
                self._send(topic, data, True)
            return True

    def event(self, topic: str, payload: bytes | str) -> None:
        """Publish a message, or keep it until the broker is back (the oldest dropped once the
        buffer is full)."""
        data = payload.encode() if isinstance(payload, str) else payload
        with self._lock:
            if self.connected:
                self._send(topic, data, False)
                return
            if len(self.buffer) == self.buffer.maxlen:
                self.dropped += 1
            self.buffer.append((topic, data))

    def reassert_online(self) -> None:
        """Publish ``online`` (retained) again if connected: corrects an ``offline`` left by
        another bridge on this prefix."""
        with self._lock:
            if self.connected:
                self._send(self.topics.available, b"online", True)

    def now(self, topic: str, payload: bytes | str) -> None:
        """Publish a message only if connected (periodic ones: the next will come)."""
        with self._lock:
            if self.connected:
                self._send(topic, payload.encode() if isinstance(payload, str) else payload,
                           False)

    def snapshot(self) -> BridgeState:
        """The state to store in Redis, with the counters."""
        with self._lock:
            s = self.state
            return BridgeState(s.client_id, s.state, s.broker, s.error, s.since, time.time(),
                               self.published, self.dropped, len(self.buffer), self.connects,
                               self.topics.prefix)
