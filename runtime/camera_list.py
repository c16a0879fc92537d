"""The camera list in Redis (``cctv:cameras``): what the running ingest should capture.

Any tool (``cctv camera add``, the dashboard) edits it; ingest re-reads it every few seconds.
Values are the camera config as JSON. Literal credentials are refused here, because the hash is
readable by every client: write ``rtsp://admin:${LOBBY_PASSWORD}@host/...`` and set the variable
in the ingest process's environment (or put the camera in ingest's private YAML file).
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from common.cameras import CameraConfig, is_camera_name, parse_camera, unknown_patch_keys
from common.fields import MessageError, load_json, text
from common.keys import Keys
from common.schema import SettingsError
from common.urls import has_literal_secret, mask_url

from .logging_setup import warn_once

log = logging.getLogger("cctv.cameras")

PATCH_TRIES = 5
"""Tries of a patch's compare-and-set before it gives up (another writer changed the camera
between each read and write)."""

# KEYS[1] the camera hash; ARGV[1] the camera's name, ARGV[2] the JSON the patch was applied to,
# ARGV[3] the patched JSON: written only while the stored JSON is still ARGV[2].
_SET_IF_UNCHANGED = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


class UnknownCamera(SettingsError):
    """A camera name that the camera list does not hold."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown camera {name!r} (configured: {', '.join(known) or 'none'})")
        self.name = name


def camera_json(camera: CameraConfig) -> str:
    """A camera as stored: JSON of what differs from the defaults, refusing literal credentials."""
    if has_literal_secret(camera.url):
        raise SettingsError(f"camera {camera.name}: the URL holds credentials "
                            f"({mask_url(camera.url)}); write them as ${{VAR}} placeholders and "
                            "set the variables in ingest's environment")
    return camera.model_dump_json(exclude_defaults=True)


def public_camera(camera: CameraConfig) -> dict[str, Any]:
    """The whole camera as JSON-ready data for any reader (CLI, API, page): its URL masked."""
    return camera.model_dump(mode="json") | {"url": mask_url(camera.url)}


def store_camera(client: redis.Redis, keys: Keys, camera: CameraConfig) -> None:
    """Add or replace a camera, refusing literal credentials."""
    client.hset(keys.cameras, camera.name, camera_json(camera))


def add_camera(client: redis.Redis, keys: Keys, camera: CameraConfig) -> bool:
    """Add a camera unless one of its name exists (False then: nothing written)."""
    return bool(client.hsetnx(keys.cameras, camera.name, camera_json(camera)))


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as a JSON merge patch (RFC 7396): null removes a key,
    objects merge, anything else (lists included) replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def patch_camera(client: redis.Redis, keys: Keys, name: str,
                 patch: dict[str, Any]) -> CameraConfig:
    """Apply a JSON merge patch to the stored camera ``name`` and store the result, validated as
    the cameras file is; what the patch does not name is kept. Raises :class:`UnknownCamera`, or
    SettingsError naming the key (the camera is then unchanged); a stored camera that
    became invalid can be patched back to a valid one. A write that raced another
    writer's is retried on the new value."""
    if patch.get("name", name) != name:
        raise SettingsError(f"camera {name}: name cannot be patched (add the camera under the "
                            "new name, then remove this one)")
    unknown = unknown_patch_keys(patch)
    if unknown:
        raise SettingsError("\n".join(f"camera: {key}: unknown key" for key in unknown))
    set_if_unchanged = client.register_script(_SET_IF_UNCHANGED)
    for _ in range(PATCH_TRIES):
        raw = client.hget(keys.cameras, name)
        if raw is None:
            raise UnknownCamera(name, camera_names(client, keys))
        document = merge_patch(camera_document(raw, f"{keys.cameras}[{name}]"), patch)
        camera = parse_camera(document | {"name": name}, "camera")
        if set_if_unchanged(keys=[keys.cameras], args=[name, raw, camera_json(camera)]):
            return camera
    raise SettingsError(f"camera {name} kept changing while it was patched; try again")


def remove_camera(client: redis.Redis, keys: Keys, name: str) -> None:
    """Remove a camera from the list; its streams and counts stay for the dashboard."""
    if not client.hdel(keys.cameras, name):
        raise UnknownCamera(name, camera_names(client, keys))


def camera_names(client: redis.Redis, keys: Keys) -> list[str]:
    """The names in the camera list, sorted (their configs not read)."""
    return sorted(text(name) for name in client.hkeys(keys.cameras))


def list_cameras(client: redis.Redis, keys: Keys) -> dict[str, CameraConfig]:
    """Every configured camera by name (invalid entries raise SettingsError naming the camera)."""
    cameras = {}
    for name, raw in client.hgetall(keys.cameras).items():
        name = text(name)
        cameras[name] = stored_entry(keys, name, raw)
    return cameras


class CameraListReader:
    """The camera list for a service that must go on whatever one entry holds: an invalid
    entry is left out and logged once to ``logger`` (again only when its error changes), so it
    costs its own camera alone."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self._refused: dict[str, str] = {}

    def read(self, client: redis.Redis, keys: Keys) -> tuple[dict[str, CameraConfig], set[str]]:
        """(the valid cameras by name, the names of the invalid entries)."""
        cameras, refused = {}, {}
        for raw_name, raw in client.hgetall(keys.cameras).items():
            name = text(raw_name)
            try:
                cameras[name] = stored_entry(keys, name, raw)
            except SettingsError as exc:
                refused[name] = "; ".join(str(exc).splitlines())[:1000]
                if self._refused.get(name) != refused[name]:
                    self.logger.error("camera list: %s (the camera is left as it was)",
                                      refused[name])
        self._refused = refused
        return cameras, set(refused)


def camera_of(client: redis.Redis, keys: Keys, name: str) -> CameraConfig:
    """One camera's stored config (:class:`UnknownCamera` when absent, SettingsError if invalid)."""
    raw = client.hget(keys.cameras, name)
    if raw is None:
        raise UnknownCamera(name, camera_names(client, keys))
    return stored_entry(keys, name, raw)


def stored_entry(keys: Keys, name: str, raw: bytes | str) -> CameraConfig:
    """The camera stored under field ``name`` of the camera list; SettingsError when its JSON is
    invalid or names another camera (writers store each camera under its own name)."""
    source = f"{keys.cameras}[{name[:80]!r}]" if not is_camera_name(name) else \
        f"{keys.cameras}[{name}]"
    camera = parse_camera_json(raw, source)
    if camera.name != name:
        raise SettingsError(f"{source}: holds camera {camera.name!r}, not {name[:80]!r}")
    return camera


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
    return parse_camera(camera_document(raw, source), source)


def camera_document(raw: bytes | str, source: str) -> dict[str, Any]:
    """One camera's stored JSON as an object, not yet validated (SettingsError if it is none)."""
    try:
        data = load_json(raw, what=source)
    except MessageError as exc:
        raise SettingsError(str(exc)) from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: not a JSON object")
    return data


def published_camera_names(client: redis.Redis, keys: Keys) -> list[str]:
    """The names in ``cctv:camera-names`` (every camera that ever published), sorted; a member
    that is no camera name (``../../x``) is left out, with one log line per name."""
    names = []
    for raw in client.smembers(keys.camera_names):
        name = text(raw)
        if is_camera_name(name):
            names.append(name)
        else:
            warn_once(log, f"{keys.camera_names} holds {name[:80]!r}, which is no camera name: "
                           "ignored")
    return sorted(names)

