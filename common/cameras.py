"""The cameras file's schema: what a camera is (source, rate, lines, zones, counting, events,
webhooks), validated the same way wherever a camera comes from (YAML file, CLI, the camera
list in Redis, the REST API). Any unknown key, wrong type or out-of-range value raises
:class:`SettingsError` whose message names the file, the key path and what is wrong::

    cameras:
      - name: lobby
        url: rtsp://user:${LOBBY_PASSWORD}@10.0.0.5/stream1
        fps: 5
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Mapping, get_args, get_origin
from urllib.parse import urlsplit

import yaml
from pydantic import (BaseModel, Field, StrictBool, ValidationError, field_validator,
                      model_validator)

from .counting_rules import CountingConfig, LineConfig, ZoneConfig
from .event_changes import ChangeKind
from .record_config import RecordConfig
from .schema import Integer, Number, SettingsError, Strict, describe_errors
from .urls import has_literal_secret, mask_url

CAMERA_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def is_camera_name(name: object) -> bool:
    """Whether ``name`` is a camera name (checked wherever one is read, not only where written:
    names become key and file names)."""
    return isinstance(name, str) and re.fullmatch(CAMERA_NAME_PATTERN, name) is not None


def _unique_names(kind: str, items: list) -> list:
    names = [item.name for item in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate {kind} names: {', '.join(dupes)}")
    return items


class MotionConfig(Strict):
    """Motion gating: frames where nothing moves skip the detector."""

    enabled: StrictBool | None = Field(None, description="Measure motion; None = live cameras "
                                                          "only (files and replays when set "
                                                          "true).")
    method: Literal["diff", "mog2"] = Field("diff", description="Frame differencing with the "
                                            "previous kept frame, or OpenCV's MOG2 background.")
    threshold: Integer = Field(25, ge=1, le=255, description="Grey-level change (diff) or "
                                                             "MOG2 variance threshold of a "
                                                             "moving pixel.")
    min_area: Number = Field(0.002, ge=0, le=1, description="Smallest moving region, as a "
                                                            "fraction of the frame.")
    width: Integer = Field(160, ge=32, le=1920, description="Width of the grey copy motion is "
                                                            "measured on.")
    keepalive_s: Number = Field(2.0, ge=0.1, le=3600, description="A full detection at "
                                                                  "least this often, motion "
                                                                  "or not.")


class ClipRules(Strict):
    """Which events of a camera (or of one class) get a clip (all get a snapshot)."""

    clips: StrictBool | None = Field(None, description="Write clips; None = the camera's "
                                                       "setting (a camera's None is true).")
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


WEBHOOK_EVENTS = tuple(kind.value for kind in ChangeKind)
"""The event changes a webhook may ask for: the wire values of :class:`ChangeKind`."""


NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
"""URL schemes of live network sources."""


def url_scheme(url: str) -> str:
    """The URL's scheme in lower case; "" for a plain path or a webcam index."""
    return urlsplit(url).scheme.lower() if "://" in url else ""


def is_live(url: str) -> bool:
    """Whether ``url`` names a live source (a network stream or a webcam index) rather than a
    file, ``file://`` URL or folder of images."""
    return url.strip().isdigit() or url_scheme(url) in NETWORK_SCHEMES


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
    events: list[Literal[WEBHOOK_EVENTS]] = Field(
        default_factory=lambda: [ChangeKind.NEW.value, ChangeKind.END.value], min_length=1,
        max_length=len(ChangeKind),
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
    fps: Number | None = Field(None, ge=0.01, le=120,
                               description="Target frames/s (frames are skipped), at least "
                                           "one frame per 100 s; None = all.")
    max_width: Integer = Field(640, ge=32, le=7680,
                               description="Frames wider than this are resized down (aspect "
                                           "kept).")
    jpeg_quality: Integer = Field(80, ge=10, le=100,
                                  description="JPEG quality of published frames.")
    loop: StrictBool = Field(False, description="Files only: start again at the end.")
    realtime: StrictBool = Field(False, description="Files only: pace frames by their "
                                                    "timestamps instead of as fast as workers "
                                                    "keep up.")
    max_lag_s: Number = Field(1.0, ge=0.1, le=60,
                              description="Live cameras and realtime files: frames older than "
                                          "this when a worker reads them skip the detector "
                                          "(published with the last objects carried) so "
                                          "detection works on the newest frame.")
    hwaccel: Literal["auto", "none", "cuda", "vaapi", "qsv"] = Field(
        "auto", description="Hardware decoding: auto = the first device that works, else "
                            "software (one log line).")
    rtsp_transport: Literal["tcp", "udp"] = Field("tcp", description="RTP over the RTSP "
                                                                     "connection, or UDP.")
    motion: MotionConfig = Field(default_factory=MotionConfig,
                                 description="Motion gating of detection.")
    record: RecordConfig = Field(default_factory=RecordConfig,
                                 description="Continuous recording of the camera's own stream: "
                                             "enabled, retain_days, max_gb, segment_s.")
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

    @property
    def lag_limit_s(self) -> float | None:
        """``max_lag_s`` where it applies (a live camera, or a file played in real time): its
        frames come at their own pace, so detection must not fall behind them; None for a file
        read as fast as workers keep up (every frame detected)."""
        return self.max_lag_s if self.realtime or is_live(self.url) else None

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


def _merged_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a merge patch's object merges into at a field of this type, and whether the
    object's keys are free (``dict[str, Model]``: one model per key) rather than its fields."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is dict:
        inner, _ = _merged_model(get_args(annotation)[1])
        return inner, True
    for arg in get_args(annotation) if get_origin(annotation) is not list else ():
        inner, free = _merged_model(arg)
        if inner is not None:
            return inner, free
    return None, False


def unknown_patch_keys(patch: Mapping[str, Any], model: type[BaseModel] = CameraConfig,
                       where: str = "") -> list[str]:
    """The keys of a camera's JSON merge patch that are no field where they stand, as paths
    (``events.clipz``): the patched camera's validation misses them where the patch sets them
    to null (removing a key that is not there changes nothing)."""
    unknown = []
    for key, value in patch.items():
        field = model.model_fields.get(key)
        if field is None:
            unknown.append(f"{where}{key}")
            continue
        inner, free = _merged_model(field.annotation)
        if inner is None or not isinstance(value, dict):
            continue
        for sub_key, sub_value in value.items() if free else [("", value)]:
            if isinstance(sub_value, dict):
                path = f"{where}{key}." + (f"{sub_key}." if free else "")
                unknown += unknown_patch_keys(sub_value, inner, path)
    return unknown

