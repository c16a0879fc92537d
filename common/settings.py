"""Settings: pydantic models (``extra="forbid"``) read from environment variables and YAML.

Each field of a service model is read from ``CCTV_<FIELD>`` (``REDIS_URL`` for ``redis_url``);
command-line options override the environment. Cameras come from a YAML file::

    cameras:
      - name: lobby
        url: rtsp://user:pass@10.0.0.5/stream1
        fps: 5

Any unknown key, wrong type or out-of-range value raises :class:`SettingsError` whose message
names the file, the key path and what is wrong, one problem per line.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError,
                      field_serializer, field_validator, model_validator)

from .keys import Keys
from .urls import has_literal_secret, mask_url

CAMERA_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SettingsError(ValueError):
    """Invalid settings or cameras file; the message is ready to show to a user."""


def describe_errors(exc: ValidationError, source: str, name: Callable[[str], str] = str) -> str:
    """One line per problem: ``source: cameras.0.fpz: unknown key``; ``name`` renames a key."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = name(where) if len(err["loc"]) == 1 else where
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {msg}")
    return "\n".join(lines)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SHAPE_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"
Point = tuple[float, float]


def _check_points(points: list[Point]) -> list[Point]:
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point [{x}, {y}] is outside the frame: coordinates are fractions "
                             "of the frame width and height, from 0 to 1")
    return points


class LineConfig(Strict):
    """A counting line between two points, as fractions of the frame (0..1, y down)."""

    name: str = Field(pattern=SHAPE_NAME_PATTERN,
                      description="Line id: letters, digits, '_', '.', '-'; at most 32 chars.")
    points: list[Point] = Field(description="[[x1, y1], [x2, y2]] in 0..1; 'in' is a crossing "
                                            "towards the side 90 degrees counter-clockwise of "
                                            "the direction first -> second point on screen.")

    @field_validator("points")
    @classmethod
    def _two_points(cls, points: list[Point]) -> list[Point]:
        if len(points) != 2:
            raise ValueError(f"a line needs exactly 2 points [[x1, y1], [x2, y2]], "
                             f"got {len(points)}")
        if points[0] == points[1]:
            raise ValueError("a line needs 2 different points")
        return _check_points(points)


class ZoneConfig(Strict):
    """A polygon zone, its corners as fractions of the frame (0..1, y down)."""

    name: str = Field(pattern=SHAPE_NAME_PATTERN,
                      description="Zone id: letters, digits, '_', '.', '-'; at most 32 chars.")
    points: list[Point] = Field(description="3 to 64 corners [[x, y], ...] in 0..1.")

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: list[Point]) -> list[Point]:
        if not 3 <= len(points) <= 64:
            raise ValueError(f"a zone needs 3 to 64 points [[x, y], ...], got {len(points)}")
        area2 = sum(x1 * y2 - x2 * y1
                    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]))
        if abs(area2) < 1e-9:
            raise ValueError("a zone's points enclose no area")
        return _check_points(points)


class CountRules(Strict):
    """When a tracked object counts (per camera, overridable per class); sizes are fractions of
    the frame."""

    min_frames: int = Field(3, ge=1, le=1000,
                            description="Frames (at or above count_min_score) before a track "
                                        "counts as an object; also frames on a line's new side "
                                        "before a crossing counts, and inside a zone before the "
                                        "object occupies it.")
    line_margin: float = Field(0.02, ge=0.0, le=0.5,
                               description="How far past a line (fraction of the frame) an "
                                           "object must be before its side counts.")
    count_min_score: float = Field(0.5, ge=0.0, le=1.0,
                                   description="Lowest detection score that counts (weaker "
                                               "boxes only keep tracks alive).")
    min_area: float = Field(0.0, ge=0.0, le=1.0,
                            description="Smallest box area (fraction of the frame) kept.")
    max_area: float = Field(1.0, gt=0.0, le=1.0,
                            description="Largest box area (fraction of the frame) kept.")
    max_ratio: float | None = Field(None, gt=0.0, le=100.0,
                                    description="Widest box kept, width / height; None = any.")
    masks: list[ZoneConfig] = Field(default_factory=list, max_length=32,
                                    description="Polygons where detections are ignored (their "
                                                "box's bottom centre inside): a poster, a tree.")

    @model_validator(mode="after")
    def _areas(self) -> "CountRules":
        if self.min_area > self.max_area:
            raise ValueError(f"min_area {self.min_area} is above max_area {self.max_area}")
        return self


class CountingConfig(CountRules):
    """A camera's counting rules, with overrides per class."""

    classes: dict[str, CountRules] = Field(default_factory=dict, max_length=256,
                                           description="Per class label: the rules set here "
                                                       "replace the camera's.")
    _rules: dict[str, CountRules] = PrivateAttr(default_factory=dict)

    @field_serializer("classes")
    def _as_set(self, classes: dict[str, CountRules]) -> dict[str, dict[str, Any]]:
        """A class entry keeps only what it sets, even a default: the rest is the camera's."""
        return {label: rules.model_dump(exclude_unset=True) for label, rules in classes.items()}

    @model_validator(mode="after")
    def _merge(self) -> "CountingConfig":
        base = {name: getattr(self, name) for name in CountRules.model_fields}
        self._rules[""] = CountRules(**base)
        for label, own in self.classes.items():
            try:
                self._rules[label] = CountRules(**base | own.model_dump(exclude_unset=True))
            except ValidationError as exc:
                raise ValueError(f"classes.{label}: {exc.errors()[0]['msg']}") from exc
        return self

    def rules(self, label: str) -> CountRules:
        """The rules of ``label``: the camera's, with what its class entry sets."""
        return self._rules.get(label, self._rules[""])


def _unique_names(kind: str, items: list) -> list:
    names = [item.name for item in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate {kind} names: {', '.join(dupes)}")
    return items


class MotionConfig(Strict):
    """Motion gating: frames where nothing moves skip the detector."""

    enabled: bool | None = Field(None, description="Measure motion; None = live cameras only "
                                                    "(files and replays when set true).")
    method: Literal["diff", "mog2"] = Field("diff", description="Frame differencing with the "
                                            "previous kept frame, or OpenCV's MOG2 background.")
    threshold: int = Field(25, ge=1, le=255, description="Grey-level change (diff) or MOG2 "
                                                         "variance threshold of a moving pixel.")
    min_area: float = Field(0.002, ge=0, le=1, description="Smallest moving region, as a "
                                                           "fraction of the frame.")
    width: int = Field(160, ge=32, le=1920, description="Width of the grey copy motion is "
                                                        "measured on.")
    keepalive_s: float = Field(2.0, ge=0.1, le=3600, description="A full detection at least "
                                                                 "this often, motion or not.")


class ClipRules(Strict):
    """Which events of a camera (or of one class) get a clip (all get a snapshot)."""

    clips: bool | None = Field(None, description="Write clips; None = the camera's setting "
                                                 "(a camera's None is true).")
    required_zones: list[str] | None = Field(None, max_length=32,
                                             description="Clip only events that entered one "
                                                         "of these zones; None or [] = any.")


class EventsConfig(ClipRules):
    """A camera's event clip rules, with overrides per class."""

    classes: dict[str, ClipRules] = Field(default_factory=dict, max_length=256,
                                          description="Per class label: what is set here "
                                                      "replaces the camera's.")

    def wants_clip(self, label: str, zones: list[str] | None) -> bool:
        """Does an event of ``label`` that entered ``zones`` get a clip? (``zones`` None: not
        known yet, only ``clips`` is read.)"""
        own = self.classes.get(label, ClipRules())
        clips = own.clips if own.clips is not None else self.clips
        required = own.required_zones if own.required_zones is not None else self.required_zones
        return clips is not False and (zones is None or not required
                                       or bool(set(required) & set(zones)))


WEBHOOK_EVENTS = ("new", "update", "end")


def check_http_url(url: str) -> None:
    """ValueError unless ``url`` is ``http[s]://host[:port][/path]``; the message never repeats
    the URL (it may hold a token). A URL that starts with a ``${VAR}`` is checked once expanded,
    by its user."""
    if url.startswith("${"):
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname or port == 0 or any(c.isspace() for c in url):
        raise ValueError("needs a host and no spaces (https://host[:port]/path)")


class WebhookConfig(Strict):
    """A webhook: each event change that passes its filters is POSTed to ``url`` as JSON."""

    url: str = Field(min_length=1, max_length=2048,
                     description="http:// or https:// address; a token or password in it as "
                                 "${VAR}, expanded from the webhooks service's environment.")
    events: list[Literal["new", "update", "end"]] = Field(
        default_factory=lambda: ["new", "end"], min_length=1, max_length=3,
        description="Changes sent: new (the object first counts), update (entered a zone, "
                    "crossed a line, better snapshot), end.")
    labels: list[str] = Field(default_factory=list, max_length=256,
                              description="Only events of these classes; [] = all.")
    zones: list[str] = Field(default_factory=list, max_length=32,
                             description="Only events whose object entered one of these zones "
                                         "(so far); [] = any.")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        check_http_url(url)
        return url


class CameraConfig(Strict):
    """One camera or recorded source."""

    name: str = Field(pattern=CAMERA_NAME_PATTERN,
                      description="Unique id: letters, digits, '_', '.', '-'; at most 64 chars.")
    url: str = Field(min_length=1, max_length=4096,
                     description="Video file path, rtsp://, http(s):// (MJPEG, HLS), a webcam "
                                 "index ('0'), or an image folder.")
    fps: float | None = Field(None, ge=0.01, le=120,
                              description="Target frames/s (frames are skipped), at least one "
                                          "frame per 100 s; None = all.")
    max_width: int = Field(640, ge=32, le=7680,
                           description="Frames wider than this are resized down (aspect kept).")
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of published frames.")
    loop: bool = Field(False, description="Files only: start again at the end.")
    realtime: bool = Field(False, description="Files only: pace frames by their timestamps "
                                              "instead of as fast as workers keep up.")
    hwaccel: Literal["auto", "none", "cuda", "vaapi", "qsv"] = Field(
        "auto", description="Hardware decoding: auto = the first device that works, else "
                            "software (one log line).")
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTP over the RTSP "
                                                                     "connection, or UDP.")
    motion: MotionConfig = Field(default_factory=MotionConfig,
                                 description="Motion gating of detection.")
    lines: list[LineConfig] = Field(default_factory=list, max_length=32,
                                    description="Counting lines (in/out per class).")
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=32,
                                    description="Polygon zones (occupancy per class).")
    counting: CountingConfig = Field(default_factory=CountingConfig,
                                     description="When tracked objects count: min_frames, "
                                                 "line_margin, count_min_score, object filters "
                                                 "and masks; per class under 'classes'.")
    events: EventsConfig = Field(default_factory=EventsConfig,
                                 description="Which events get clips: clips, required_zones; "
                                             "per class under 'classes'.")
    webhooks: list[WebhookConfig] = Field(default_factory=list, max_length=32,
                                          description="Webhooks of this camera's events: url, "
                                                      "events, labels, zones.")

    @field_validator("lines")
    @classmethod
    def _unique_lines(cls, lines: list[LineConfig]) -> list[LineConfig]:
        return _unique_names("line", lines)

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, zones: list[ZoneConfig]) -> list[ZoneConfig]:
        return _unique_names("zone", zones)

    @model_validator(mode="after")
    def _known_required_zones(self) -> "CameraConfig":
        names = {zone.name for zone in self.zones}
        for rules in (self.events, *self.events.classes.values()):
            unknown = sorted(set(rules.required_zones or ()) - names)
            if unknown:
                raise ValueError(f"events: required_zones names unknown zones: "
                                 f"{', '.join(unknown)}")
        for i, hook in enumerate(self.webhooks):
            unknown = sorted(set(hook.zones) - names)
            if unknown:
                raise ValueError(f"webhooks.{i}.zones names unknown zones: {', '.join(unknown)}")
            if has_literal_secret(hook.url):
                raise ValueError(f"webhooks.{i}.url holds a credential ({mask_url(hook.url)}): "
                                 "write it as ${VAR} and set the variable in the environment of "
                                 "cctv webhooks (the camera list in Redis is readable by every "
                                 "client)")
        return self


class CamerasFile(Strict):
    """The cameras YAML file."""

    cameras: list[CameraConfig] = Field(default_factory=list, max_length=1024,
                                        description="Cameras ingest runs at start.")
    webhooks: list[WebhookConfig] = Field(default_factory=list, max_length=64,
                                          description="Webhooks of every camera's events.")

    @field_validator("cameras")
    @classmethod
    def _unique(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        names = [c.name for c in cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate camera names: {', '.join(dupes)}")
        return cameras


def read_config_text(path: Path) -> str:
    """A configuration file's text (UTF-8), or SettingsError saying why not."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset "
                            f"{exc.start}): save it as UTF-8") from exc


def load_cameras_file(path: str | Path) -> list[CameraConfig]:
    """Read and validate a cameras YAML file."""
    return load_cameras_document(path).cameras


def load_cameras_document(path: str | Path) -> CamerasFile:
    """Read and validate a cameras YAML file, with its top-level keys (``webhooks``)."""
    path = Path(path)
    try:
        data = yaml.safe_load(read_config_text(path)) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: top level must be a mapping with a 'cameras' list")
    try:
        return CamerasFile.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, str(path))) from exc


def parse_camera(data: Mapping[str, Any], source: str = "camera") -> CameraConfig:
    """Validate one camera mapping (from the CLI or the ``cctv:cameras`` hash)."""
    try:
        return CameraConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, source)) from exc


CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
"""URL schemes of a Redis Cluster: ``redis+cluster://[user:password@]host:port[,host:port...]``."""


def is_cluster_url(url: str | None) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``)."""
    return bool(url) and urlsplit(url).scheme in CLUSTER_SCHEMES


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The startup nodes ``(host, port)`` of a ``redis+cluster://`` URL (port default 6379);
    ValueError on a bad one, without repeating the URL."""
    hosts = urlsplit(url).netloc.rpartition("@")[2]
    nodes = []
    for item in hosts.split(","):
        try:
            parts = urlsplit(f"redis://{item.strip()}")
            port = parts.port or 6379
        except ValueError:
            raise ValueError("each cluster node is host:port with a port from 1 to 65535 "
                             "(redis+cluster://host1:7000,host2:7001)") from None
        if not parts.hostname:
            raise ValueError("needs at least one node (redis+cluster://host1:7000,host2:7001)")
        nodes.append((parts.hostname, port))
    return nodes


SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
"""URL schemes of Redis Sentinel: ``redis+sentinel://[:password@]host:port[,host:port]/service[/db]``
(the sentinels' addresses; the primary they name is where data goes)."""


def is_sentinel_url(url: str | None) -> bool:
    """Whether ``url`` names a primary through Redis Sentinel (``redis[s]+sentinel://``)."""
    return bool(url) and urlsplit(url).scheme in SENTINEL_SCHEMES


def sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, int]:
    """The sentinels ``(host, port)`` (port default 26379), the service name and the database of a
    ``redis+sentinel://`` URL; ValueError on a bad one, without repeating the URL."""
    parts = urlsplit(url)
    sentinels = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        try:
            node = urlsplit(f"redis://{item.strip()}")
            port = node.port or 26379
        except ValueError:
            raise ValueError("each sentinel is host:port with a port from 1 to 65535 "
                             "(redis+sentinel://host1:26379,host2:26379/mymaster)") from None
        if not node.hostname:
            raise ValueError("needs at least one sentinel (redis+sentinel://host:26379/mymaster)")
        sentinels.append((node.hostname, port))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("needs the service name after the sentinels, then optionally a database "
                         "(redis+sentinel://host:26379/mymaster/0)")
    if len(path) == 2 and not (path[1].isdigit() and int(path[1]) < 1_000_000):
        raise ValueError("the database after the service name must be a number")
    return sentinels, path[0], int(path[1]) if len(path) == 2 else 0


def check_redis_url(url: str) -> None:
    """ValueError unless ``url`` is ``redis[s]://[user:password@]host[:port][/db]``,
    ``redis[s]+cluster://[user:password@]host:port[,host:port...]`` or ``unix:///path``; the
    message never repeats the URL (it may hold a password)."""
    parts = urlsplit(url)
    if parts.scheme in CLUSTER_SCHEMES:
        cluster_nodes(url)
        if parts.path.strip("/") not in ("", "0"):
            raise ValueError("a Redis Cluster has database 0 only")
        return
    if parts.scheme in SENTINEL_SCHEMES:
        sentinel_parts(url)
        return
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must start with redis://, rediss://, redis+cluster://, "
                         "redis+sentinel:// or unix://")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("unix:// needs the socket's path (unix:///run/redis.sock)")
        return
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("needs a host (redis://host:6379/0)")
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    db = parts.path.strip("/")
    if db and not (db.isdigit() and int(db) < 1_000_000):
        raise ValueError("the database after the host must be a number (redis://host:6379/0)")


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


class IngestSettings(ServiceSettings):
    """Settings of the ingest service."""

    cameras_file: Path | None = Field(None, description="YAML file seeding the camera list.")
    stream_maxlen: int = Field(200, ge=10, le=100_000,
                               description="Cap of each frame stream (XADD MAXLEN ~).")
    poll_s: float = Field(1.0, ge=0.05, le=60, description="How often camera config is re-read.")
    backoff_initial_s: float = Field(0.5, ge=0.01, le=60, description="First reconnect delay.")
    backoff_max_s: float = Field(30.0, ge=0.1, le=3600, description="Longest reconnect delay.")
    open_timeout_s: float = Field(10.0, ge=0.5, le=300,
                                  description="Timeout to open or read a network stream.")


class DashboardSettings(CommonSettings):
    """Settings of ``cctv dashboard``."""

    dashboard_host: str = Field("127.0.0.1", min_length=1, max_length=255,
                                description="Address the dashboard binds; anything but loopback "
                                            "requires dashboard_password.")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="Port of the dashboard.")
    dashboard_password: SecretStr | None = Field(None, min_length=8, max_length=256,
                                                 description="Password the page asks for; "
                                                             "required when not on loopback.")
    dashboard_refresh_s: float = Field(1.0, ge=0.1, le=60,
                                       description="Refresh period of the Live view's counts and "
                                                   "camera lines (the video streams by itself).")
    dashboard_stale_s: float = Field(5.0, ge=1, le=3600,
                                     description="An online camera without a frame this long "
                                                 "shows as stalled.")
    dashboard_media_dir: Path = Field(Path(".cctv/media"),
                                      description="Folder of replayable files; uploads land here "
                                                  "(the RQ worker must see the same path).")
    replay_dir: Path = Field(Path(".cctv/replays"),
                             description="Folder where replays started from the dashboard write "
                                         "their recordings (annotated video, CSV, JSON report), "
                                         "listed by its Replay view (the RQ worker writes it: "
                                         "it must see the same path).")


class WorkerSettings(ServiceSettings):
    """Settings of a detection worker."""

    worker_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                  description="Consumer name; default host-pid.")
    detector: str = Field("ssdlite-person", min_length=1, description="Detector spec.")
    device: str | None = Field(None, description="torch device (cpu, cuda, cuda:1); None = auto.")
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="Network precision. int8 runs the quantized network on the CPU "
                            "(onnxruntime; the network 1.5-2x as fast as fp32), calibrated on "
                            "the sample videos or on your footage by `python -m detector "
                            "calibrate`; it needs device cpu or auto (then the CPU).")
    publish_floor: float = Field(0.1, ge=0.0, le=1.0,
                                 description="Lowest detection score published: the tracker's "
                                             "second stage needs the weak boxes, and counts "
                                             "only those at a camera's count_min_score.")
    classes: list[str] | None = Field(None, description="Keep only these labels; None = all.")
    num_threads: int | None = Field(None, ge=1, le=256,
                                    description="CPU threads per lane (torch and onnxruntime); "
                                                "unset = the cores shared out among the lanes.")
    lanes: int | None = Field(None, ge=1, le=64,
                              description="Batches in flight at once, one thread each; unset = "
                                          "on CPU one lane per core (at most 4), on CUDA 2.")
    batch_size: int = Field(8, ge=1, le=256, description="Most frames per detect() call.")
    batch_wait_ms: int = Field(50, ge=0, le=10_000, description="Longest wait to fill a batch.")
    claim_idle_ms: int = Field(30_000, ge=100, le=3_600_000,
                               description="Reclaim frames pending this long on a dead worker.")
    max_deliveries: int = Field(3, ge=1, le=100,
                                description="A frame delivered more often than this (it keeps "
                                            "killing workers) is dead-lettered, not tried again.")
    max_frame_pixels: int = Field(40_000_000, ge=1024, le=1_000_000_000,
                                  description="Frames whose JPEG header claims more pixels are "
                                              "dead-lettered before decoding.")
    heartbeat_s: float = Field(2.0, ge=0.1, le=60, description="Heartbeat interval.")
    detections_maxlen: int = Field(1000, ge=10, le=1_000_000,
                                   description="Cap of each detections stream.")
    done_ttl_s: int = Field(3600, ge=60, le=604_800,
                            description="Lifetime of per-frame 'published' markers.")
    minute_ttl_s: int = Field(2 * 86_400, ge=3600, le=90 * 86_400,
                              description="Lifetime of per-minute count buckets.")


class TrackerSettings(ServiceSettings):
    """Settings of the tracker (tracks, unique counts, line crossings and zone occupancy)."""

    tracker_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                   description="Lock owner name; default host-pid.")
    max_cameras: int | None = Field(None, ge=1, le=10_000,
                                    description="Most cameras this tracker takes; unset = all "
                                                "it can (other trackers stand by).")
    poll_s: float = Field(1.0, ge=0.05, le=60,
                          description="How often free cameras are looked for and lines and "
                                      "zones re-read.")
    reorder_ms: int = Field(1000, ge=0, le=60_000,
                            description="Longest wait for a missing earlier frame before "
                                        "tracking goes on without it, when the frames' consumer "
                                        "group cannot be read.")
    reorder_pending_ms: int = Field(45_000, ge=0, le=3_600_000,
                                    description="Longest wait for an earlier frame still pending "
                                                "on a worker; at least the workers' "
                                                "claim_idle_ms plus a batch, so that the frames "
                                                "of a dead worker are tracked, not skipped.")
    reorder_max: int = Field(5000, ge=1, le=100_000,
                             description="Most frames held per camera while waiting (about "
                                         "reorder_pending_ms x frames/s).")
    lock_ttl_ms: int = Field(5000, ge=200, le=600_000,
                             description="A camera's tracker lock expires this long after its "
                                         "owner stops renewing it (then another takes over).")
    track_threshold: float = Field(0.25, ge=0.0, le=1.0,
                                   description="ByteTrack: detections scoring above it are "
                                               "matched first and (from +0.1) start tracks; "
                                               "0.1 up to it only extend tracks.")
    match_threshold: float = Field(0.8, gt=0.0, le=1.0,
                                   description="ByteTrack: most 1 - IoU x score for a match.")
    lost_track_frames: int = Field(30, ge=1, le=10_000,
                                   description="Longest gap (frames without a match) after "
                                               "which a lost track is still found again.")
    min_track_frames: int = Field(1, ge=1, le=100,
                                  description="Matches after its first frame before a track "
                                              "gets an id and is counted.")
    tracks_maxlen: int = Field(1000, ge=10, le=1_000_000,
                               description="Cap of each tracks stream.")
    minute_ttl_s: int = Field(2 * 86_400, ge=3600, le=90 * 86_400,
                              description="Lifetime of per-minute track count buckets.")
    events: bool = Field(True, description="Make an event (snapshot, clip) of every object "
                                           "that counts.")
    event_end_after_s: float = Field(5.0, ge=0.1, le=3600,
                                     description="An event ends when its object has not been "
                                                 "seen for this long (capture time).")
    event_pre_s: float = Field(2.0, ge=0, le=60, description="Clip time before an event starts.")
    event_post_s: float = Field(2.0, ge=0, le=60, description="Clip time after an event ends.")
    event_clips: bool = Field(True, description="Write a clip of every event (off: snapshots "
                                                "only).")
    event_max_age_days: float = Field(7.0, gt=0, le=3650,
                                      description="Events (and their files) older than this "
                                                  "are removed.")
    event_max_mb: int = Field(2048, ge=1, le=10_000_000,
                              description="Most megabytes of event files per camera; the oldest "
                                          "events go first.")


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
                               description="Deliveries waiting per receiver URL; beyond, new "
                                           "ones are dropped (counted).")
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


S = TypeVar("S", bound=CommonSettings)


def env_name(field: str) -> str:
    """Environment variable of a settings field."""
    return "REDIS_URL" if field == "redis_url" else f"CCTV_{field.upper()}"


def from_env(model: type[S], environ: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """Build ``model`` from environment variables, then non-None ``overrides`` (CLI options)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        raw = environ.get(env_name(name))
        if raw is None or raw == "":
            continue
        is_list = "list" in str(info.annotation)
        values[name] = [s.strip() for s in raw.split(",") if s.strip()] if is_list else raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, "settings", env_name)) from exc
