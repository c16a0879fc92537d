"""Settings every service shares, read from environment variables: each field of a service model
is read from ``CCTV_<FIELD>`` (``REDIS_URL`` for ``redis_url``); command-line options override
the environment. Each service's own model lives in its package (``ingest/settings.py``...).
A renamed variable's former name is still read for one release (:data:`FORMER_ENV_NAMES`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from common.keys import Keys
from common.schema import SettingsError, Strict, describe_errors

from .redis_url import check_redis_url, is_cluster_url

log = logging.getLogger("cctv.settings")


class CommonSettings(Strict):
    """Settings every service shares."""

    redis_url: str | None = Field(None, description="redis://[:password@]host:port/db, rediss:// "
                                  "for TLS, unix:///path.sock, redis+cluster://host:port[,host:"
                                  "port...] for Redis Cluster, redis+sentinel://[:password@]host:"
                                  "port[,host:port...]/service[/db] for a primary found through "
                                  "Redis Sentinel; unset = the embedded server.")
    redis_cluster: bool = Field(False, description="Connect to redis_url (redis:// or rediss://) "
                                                   "as a Redis Cluster (redis+cluster:// implies "
                                                   "it).")
    queue_url: str | None = Field(None, description="Standalone Redis of the replay job queue "
                                                    "(RQ cannot run on a cluster); unset = "
                                                    "redis_url unless that is a cluster.")
    key_prefix: str = Field("cctv", pattern=r"^[A-Za-z0-9_.-]{1,32}$",
                            description="Prefix of every Redis key.")
    hash_tags: bool = Field(False, description="Wrap camera names in {} for Redis Cluster (on by "
                                               "force with a cluster; false is then refused).")
    run_dir: Path = Field(Path(".cctv"), description="Folder of the embedded Redis (pid, log).")
    media_dir: Path = Field(Path(".cctv/events"),
                            description="Folder of event snapshots and clips (the tracker writes "
                                        "it, the dashboard's API reads it: one path for both).")
    recordings_dir: Path = Field(Path(".cctv/recordings"),
                                 description="Folder of the cameras' recordings: "
                                             "<camera>/<YYYY-MM-DD>/<HH>/<start_ms>.mp4 (UTC), "
                                             "and the tracker's objects of each frame in "
                                             "<camera>/objects/ (ingest and the tracker write "
                                             "it, the dashboard's API reads it).")
    embedded_port: int = Field(6390, ge=1024, le=65535,
                               description="Port of the embedded Redis on 127.0.0.1.")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$",
                           description="Logging level.")
    log_format: str = Field("text", pattern=r"^(text|json)$",
                            description="Log lines as text, or as one JSON object per line.")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url:
            check_redis_url(url)
        return url

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, url: str | None) -> str | None:
        if url:
            check_redis_url(url)
            if is_cluster_url(url):
                raise ValueError("the replay queue needs a standalone Redis (RQ cannot run on "
                                 "a cluster)")
        return url

    @field_validator("hash_tags")
    @classmethod
    def _hash_tags(cls, on: bool, info) -> bool:
        data = info.data
        if not on and (data.get("redis_cluster") or is_cluster_url(data.get("redis_url"))):
            raise ValueError("cannot be false on Redis Cluster: each camera's keys must share "
                             "one slot (leave it unset: a cluster turns it on)")
        return on

    @model_validator(mode="after")
    def _cluster_url(self):
        if self.redis_cluster and not (self.redis_url and
                                       urlsplit(self.redis_url).scheme.startswith("redis")):
            raise ValueError("redis_cluster needs REDIS_URL: redis+cluster://host:port[,...] "
                             "or redis://host:port")
        return self

    @property
    def cluster(self) -> bool:
        """Whether Redis is a cluster (``redis+cluster://`` or ``redis_cluster``)."""
        return self.redis_cluster or is_cluster_url(self.redis_url)

    @property
    def replay_queue_url(self) -> str | None:
        """The standalone Redis of replay jobs: ``queue_url``, else ``redis_url`` (None: the
        embedded server) unless that is a cluster (then :class:`SettingsError`)."""
        if self.queue_url:
            return self.queue_url
        if self.cluster:
            raise SettingsError("replays need CCTV_QUEUE_URL (a standalone Redis for their job "
                                "queue): RQ cannot run on Redis Cluster")
        return self.redis_url

    @property
    def keys(self) -> Keys:
        """The key layout these settings select (hash tags on by force with a cluster)."""
        return Keys(self.key_prefix, self.hash_tags or self.cluster)


class ServiceSettings(CommonSettings):
    """Settings of a long-running service with a Prometheus endpoint (ingest, workers)."""

    metrics_port: int | None = Field(None, ge=1, le=65535,
                                     description="Port of the Prometheus /metrics endpoint; "
                                                 "unset = no endpoint.")
    metrics_host: str = Field("127.0.0.1", min_length=1, max_length=255,
                              description="Address the metrics endpoint binds (0.0.0.0 only "
                                          "inside a container or behind a firewall).")


MINUTE_TTL_S = Field(2 * 86_400, ge=3600, le=90 * 86_400,
                     description="Lifetime of per-minute count buckets (the workers' detection "
                                 "counts, the tracker's track counts).")
"""``minute_ttl_s`` of the two services that write per-minute counts (workers, tracker): one
setting, ``CCTV_MINUTE_TTL_S``, read by both."""

FORMER_ENV_NAMES = {"CCTV_CAMERA_POLL_S": "CCTV_POLL_S", "CCTV_TRACKER_POLL_S": "CCTV_POLL_S"}
"""Environment variable -> the name it replaced, still read (with a warning) for one release:
``CCTV_POLL_S`` meant both ingest's camera re-read period and the tracker's camera search."""

S = TypeVar("S", bound=CommonSettings)


def env_name(field: str) -> str:
    """Environment variable of a settings field."""
    return "REDIS_URL" if field == "redis_url" else f"CCTV_{field.upper()}"


def env_value(environ: Mapping[str, str], name: str) -> str | None:
    """The value of environment variable ``name``, else of the name it replaced (logging the new
    name); None when neither is set or both are empty."""
    raw = environ.get(name)
    former = FORMER_ENV_NAMES.get(name)
    if not raw and former and environ.get(former):
        log.warning("%s is deprecated: set %s instead", former, name)
        return environ[former]
    return raw or None


def from_env(model: type[S], environ: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """Build ``model`` from environment variables, then non-None ``overrides`` (CLI options).
    An empty variable is unset, except ``REDIS_URL``: empty is an error, not the embedded
    server (an unfilled ``REDIS_URL=${VAR}`` must not start a private, empty Redis)."""
    environ = os.environ if environ is None else environ
    if "redis_url" in model.model_fields and environ.get("REDIS_URL") == "":
        raise SettingsError("REDIS_URL is set but empty: unset it for the embedded server, or "
                            "give redis://host:port")
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        raw = env_value(environ, env_name(name))
        if raw is None:
            continue
        is_list = "list" in str(info.annotation)
        values[name] = [s.strip() for s in raw.split(",") if s.strip()] if is_list else raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, "settings", env_name)) from exc
