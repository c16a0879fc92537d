"""Settings of the integrations: ``cctv webhooks`` and ``cctv mqtt``.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from common.cameras import check_http_url
from runtime.settings import CommonSettings, ServiceSettings


class WebhookSettings(ServiceSettings):
    """Settings of ``cctv webhooks`` (POSTs event changes to the cameras file's webhooks)."""

    cameras_file: Path | None = Field(None, description="YAML cameras file whose top-level "
                                      "webhooks apply to every camera (re-read when it changes); "
                                      "a camera's own come from the camera list in Redis.")
    webhook_secret: SecretStr | None = Field(None, min_length=8, max_length=256,
                                             description="Key of the X-CCTV-Signature header "
                                                         "(sha256=HMAC-SHA256 hex of the body); "
                                                         "unset = unsigned.")
    webhook_timeout_s: float = Field(10.0, ge=0.1, le=300,
                                     description="Connect and read timeout of one try.")
    webhook_retries: int = Field(5, ge=0, le=20,
                                 description="Tries after the first for a 5xx, 429 or 408 "
                                             "answer, a timeout or a connection error (another "
                                             "4xx is not retried).")
    webhook_backoff_s: float = Field(1.0, ge=0.01, le=600,
                                     description="Wait before the first retry; doubles each "
                                                 "time.")
    webhook_backoff_max_s: float = Field(60.0, ge=0.1, le=3600,
                                         description="Longest wait between retries (a "
                                                     "receiver's Retry-After included).")
    webhook_queue: int = Field(1000, ge=1, le=100_000,
                               description="Deliveries waiting per receiver URL, for fresh "
                                           "events and again for a restart's backlog (fresh "
                                           "go first); beyond, new ones are dropped (counted).")
    webhook_allow: list[str] | None = Field(None, max_length=256,
                                            description="Hosts (name, *.domain, IP) or CIDRs "
                                                        "webhooks may reach; a name must match "
                                                        "or all its addresses be in a CIDR. "
                                                        "Unset = any.")
    webhook_poll_s: float = Field(2.0, ge=0.1, le=600,
                                  description="How often the webhooks configured are re-read.")
    public_url: str | None = Field(None, max_length=2048,
                                   description="Base URL receivers reach the dashboard's API at "
                                               "(https://nvr.example:8501): the body's "
                                               "snapshot_url and clip_url; unset = null.")

    @field_validator("webhook_allow")
    @classmethod
    def _allow(cls, allow: list[str] | None) -> list[str] | None:
        for entry in allow or ():
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not re.match(r"^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", entry):
                    raise ValueError(f"{entry!r} is neither a host name, *.domain, an IP address "
                                     "nor a CIDR") from None
        return allow

    @field_validator("public_url")
    @classmethod
    def _public(cls, url: str | None) -> str | None:
        if url:
            check_http_url(url)
        return url.rstrip("/") if url else url


MQTT_TOPIC_PATTERN = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,7}$"


def check_mqtt_url(url: str) -> None:
    """ValueError unless ``url`` is ``mqtt[s]://[user[:password]@]host[:port]``; the message
    never repeats the URL (it may hold a password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError("must start with mqtt:// or mqtts:// (TLS)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    if not parts.hostname:
        raise ValueError("needs a host (mqtt://user:${MQTT_PASSWORD}@host:1883)")
    if parts.path.strip("/") or parts.query:
        raise ValueError("takes no path or query: mqtt[s]://[user[:password]@]host[:port]")


class MqttSettings(CommonSettings):
    """Settings of ``cctv mqtt``, the MQTT bridge (started by ``cctv up`` when mqtt_url is set)."""

    mqtt_url: str | None = Field(None, description="Broker: mqtt://[user[:password]@]host[:port] "
                                 "(1883), mqtts:// for TLS (8883, certificate verified); a "
                                 "password as ${VAR} is read from the environment; unset = no "
                                 "bridge.")
    mqtt_topic_prefix: str = Field("cctv", pattern=MQTT_TOPIC_PATTERN,
                                   description="First level(s) of every topic (cctv/available, "
                                               "cctv/events, ...).")
    mqtt_discovery: bool = Field(True, description="Publish Home Assistant MQTT discovery "
                                                   "configs (sensors per camera and class, "
                                                   "snapshot cameras).")
    mqtt_discovery_prefix: str = Field("homeassistant", pattern=MQTT_TOPIC_PATTERN,
                                       description="Home Assistant's discovery prefix.")
    mqtt_stats_interval_s: float = Field(60.0, ge=1, le=86_400,
                                         description="Period of the status document on "
                                                     "<prefix>/stats.")
    mqtt_buffer: int = Field(10_000, ge=10, le=1_000_000,
                             description="Most event messages held in memory when the "
                                         "connection drops as they are sent (beyond, the oldest "
                                         "are dropped and counted); changes not yet read wait in "
                                         "Redis, and state topics are all sent again on "
                                         "reconnect.")
    mqtt_client_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                       description="MQTT client id (also names the bridge in "
                                                   "cctv status); default cctv-<host>.")
    mqtt_ca_certs: Path | None = Field(None, description="CA bundle that verifies an mqtts:// "
                                                         "broker; unset = the system's CAs.")
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600,
                                  description="MQTT keep-alive: the broker publishes the "
                                              "bridge's 'offline' will about 1.5x this after "
                                              "losing it silently.")
    mqtt_poll_s: float = Field(0.5, ge=0.05, le=60,
                               description="How often counts, objects in view and snapshots "
                                           "are read from Redis.")

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, url: str | None) -> str | None:
        if url:
            check_mqtt_url(url)
        return url
