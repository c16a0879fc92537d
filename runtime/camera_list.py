"""The camera list in Redis (``cctv:cameras``): what the running ingest should capture.

Any tool (``cctv camera add``, the dashboard) edits it; ingest re-reads it every few seconds.
Values are the camera config as JSON. Literal credentials are refused here, because the hash is
readable by every client: write ``rtsp://admin:${LOBBY_PASSWORD}@host/...`` and set the variable
in the ingest process's environment (or put the camera in ingest's private YAML file).
"""

from __future__ import annotations

import logging

import redis

from common.cameras import CameraConfig, is_camera_name, parse_camera
from common.fields import MessageError, load_json
from common.keys import Keys
from common.schema import SettingsError
from common.urls import has_literal_secret, mask_url

log = logging.getLogger("cctv.cameras")


def store_camera(client: redis.Redis, keys: Keys, camera: CameraConfig) -> None:
    """Add or replace a camera, refusing literal credentials."""
    if has_literal_secret(camera.url):
        raise SettingsError(f"camera {camera.name}: the URL holds credentials "
                            f"({mask_url(camera.url)}); write them as ${{VAR}} placeholders and "
                            "set the variables in ingest's environment")
    client.hset(keys.cameras, camera.name, camera.model_dump_json(exclude_defaults=True))


def remove_camera(client: redis.Redis, keys: Keys, name: str) -> None:
    """Remove a camera from the list; its streams and counts stay for the dashboard."""
    if not client.hdel(keys.cameras, name):
        known = ", ".join(sorted(list_cameras(client, keys))) or "none"
        raise SettingsError(f"unknown camera {name!r} (configured: {known})")


def list_cameras(client: redis.Redis, keys: Keys) -> dict[str, CameraConfig]:
    """Every configured camera by name (invalid entries raise SettingsError naming the camera)."""
    cameras = {}
    for name, raw in client.hgetall(keys.cameras).items():
        name = name.decode()
        cameras[name] = parse_camera_json(raw, f"{keys.cameras}[{name}]")
    return cameras


def stored_camera(client: redis.Redis, keys: Keys, name: str) -> CameraConfig | None:
    """One camera's stored config; None when absent or invalid (for readers that must go on)."""
    return valid_camera_json(client.hget(keys.cameras, name), name)


def valid_camera_json(raw: bytes | str | None, name: str) -> CameraConfig | None:
    """A stored camera's JSON as its config; None when absent or invalid."""
    try:
        return parse_camera_json(raw, name) if raw is not None else None
    except SettingsError:
        return None


def parse_camera_json(raw: bytes | str, source: str) -> CameraConfig:
    """Validate one camera stored as JSON (bounded: :func:`common.fields.load_json`)."""
    try:
        data = load_json(raw, what=source)
    except MessageError as exc:
        raise SettingsError(str(exc)) from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: not a JSON object")
    return parse_camera(data, source)


_refused_names: set[str] = set()


def published_camera_names(client: redis.Redis, keys: Keys) -> list[str]:
    """The names in ``cctv:camera-names`` (every camera that ever published), sorted; a member
    that is no camera name (``../../x``) is left out, with one log line per name."""
    names = []
    for raw in client.smembers(keys.camera_names):
        name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if is_camera_name(name):
            names.append(name)
        elif name not in _refused_names and len(_refused_names) < 1000:
            _refused_names.add(name)
            log.warning("%s holds %r, which is no camera name: ignored", keys.camera_names,
                        name[:80])
    return sorted(names)

