"""A snapshot of the whole pipeline from Redis: cameras, workers, queue depths, counts.

``collect_status`` returns the dict that ``cctv status --json`` prints (a stable contract: keys are
only ever added) and that the dashboard reads.
"""

from __future__ import annotations

from typing import Any

import redis

from .cameras import valid_camera_json
from .keys import GROUP, RQ_QUEUE_KEY, Keys
from .messages import CameraState, MessageError, WorkerHeartbeat
from .outage import read_losses
from .settings import CameraConfig
from .urls import mask_text, mask_url


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def tracking_status(client: redis.Redis, keys: Keys, name: str,
                    config: CameraConfig | None) -> dict[str, Any]:
    """The tracker's totals of one camera: ``unique`` per label, ``lines`` (in/out per label of
    every configured or counted line) and ``zones`` (objects per label in the last tracked frame,
    every configured zone present)."""
    stats = {_text(k): int(v) for k, v in client.hgetall(keys.track_stats(name)).items()}
    lines: dict[str, dict[str, dict[str, int]]] = {
        line.name: {"in": {}, "out": {}} for line in (config.lines if config else [])}
    zones: dict[str, dict[str, int]] = {zone.name: {} for zone in (config.zones if config else [])}
    unique = {}
    for key, n in sorted(stats.items()):
        kind, _, rest = key.partition(":")
        if kind == "unique":
            unique[rest] = n
        elif kind in ("in", "out"):
            line, _, label = rest.partition(":")
            lines.setdefault(line, {"in": {}, "out": {}})[kind][label] = n
    for key, n in sorted(client.hgetall(keys.zones(name)).items()):
        zone, _, label = _text(key).partition(":")
        zones.setdefault(zone, {})[label] = int(n)
    return {"unique": unique, "lines": lines, "zones": zones}


def camera_status(client: redis.Redis, keys: Keys, name: str, configured: bool,
                  config: CameraConfig | None) -> dict[str, Any]:
    """One camera's entry of the status contract (``config``: its stored config, if valid)."""
    raw_state = client.hgetall(keys.state(name))
    try:
        state = CameraState.from_fields(raw_state) if raw_state else CameraState("starting")
    except MessageError as exc:
        state = CameraState("error", error=f"unreadable state: {exc}")
    stats = {_text(k): int(v) for k, v in client.hgetall(keys.stats(name)).items()}
    stream = keys.frames(name)
    depth = client.xlen(stream)
    pending = 0
    if depth:
        try:
            pending = int(client.xpending(stream, GROUP)["pending"])
        except redis.ResponseError:  # no group yet
            pending = 0
    return {
        "state": state.state,
        "frames_in": state.frames_in,
        "frames_processed": stats.get("frames_processed", 0),
        "frames_dropped": state.frames_dropped,
        "frames_motion": state.frames_motion,
        "frames_still": state.frames_still,
        "detections_total": {k[4:]: v for k, v in sorted(stats.items()) if k.startswith("det:")},
        "dead_letters": stats.get("dead_letters", 0),
        "fps": state.fps,
        "last_frame_ts": state.last_frame_ts,
        "reconnects": state.reconnects,
        "error": mask_text(state.error),
        "url": mask_url(state.url),
        "configured": configured,
        "stream_length": depth,
        "pending": pending,
        "tracking": tracking_status(client, keys, name, config),
    }


def broken_camera(configured: bool, error: str) -> dict[str, Any]:
    """The status entry of a camera whose keys cannot be read."""
    return {"state": "error", "frames_in": 0, "frames_processed": 0, "frames_dropped": 0,
            "frames_motion": 0, "frames_still": 0,
            "detections_total": {}, "dead_letters": 0, "fps": 0.0, "last_frame_ts": 0.0,
            "reconnects": 0, "error": f"unreadable keys: {error}", "url": "",
            "configured": configured, "stream_length": 0, "pending": 0,
            "tracking": {"unique": {}, "lines": {}, "zones": {}}}


def collect_status(client: redis.Redis, keys: Keys) -> dict[str, Any]:
    """Cameras (configured or with a stream), live workers and queue depths."""
    configured = {_text(n): raw for n, raw in client.hgetall(keys.cameras).items()}
    names = sorted(configured.keys() | {_text(n) for n in client.smembers(keys.camera_names)})
    workers = []
    for worker_id in sorted(_text(w) for w in client.smembers(keys.workers)):
        fields = client.hgetall(keys.worker(worker_id))
        if not fields:
            client.srem(keys.workers, worker_id)  # heartbeat expired: the worker is gone
            continue
        try:
            workers.append(WorkerHeartbeat.from_fields(fields).to_dict())
        except MessageError:
            continue
    cameras = {}
    for name in names:
        try:
            cameras[name] = camera_status(client, keys, name, name in configured,
                                          valid_camera_json(configured.get(name), name))
        except redis.ResponseError as exc:  # e.g. one of its keys holds the wrong type
            cameras[name] = broken_camera(name in configured, mask_text(str(exc)))
    return {
        "cameras": cameras,
        "workers": workers,
        "queues": {"replays": client.llen(RQ_QUEUE_KEY),
                   "dead_letters": client.xlen(keys.dead_letter)},
        "redis_losses": {service: {"lost": loss.lost, "back": loss.back}
                         for service, loss in sorted(read_losses(client, keys).items())},
    }
