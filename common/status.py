"""A snapshot of the whole pipeline from Redis: cameras, workers, queue depths, counts.

``collect_status`` returns the dict that ``cctv status --json`` prints (a stable contract: keys are
only ever added) and that the dashboard reads.
"""

from __future__ import annotations

from typing import Any

import redis

from .cameras import valid_camera_json
from .counts import DEAD_LETTERS, FRAMES_PROCESSED, TrackingCounts
from .keys import GROUP, RQ_QUEUE_KEY, Keys
from .messages import CameraState, MessageError, WorkerHeartbeat
from .outage import read_losses
from .settings import CameraConfig
from .urls import mask_text, mask_url


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def tracking_counts(client: redis.Redis, keys: Keys, name: str,
                    config: CameraConfig | None) -> TrackingCounts:
    """The tracker's totals of one camera, every configured line and zone present."""
    return TrackingCounts.parse(client.hgetall(keys.track_stats(name)),
                                client.hgetall(keys.zones(name)),
                                [line.name for line in config.lines] if config else [],
                                [zone.name for zone in config.zones] if config else [])


def tracking_status(client: redis.Redis, keys: Keys, name: str,
                    config: CameraConfig | None) -> dict[str, Any]:
    """The ``"tracking"`` entry of one camera: ``unique`` per label, ``lines`` (in/out per label
    of every configured or counted line), ``zones`` (objects per label in the last tracked
    frame, every configured zone present) and ``dwell`` (zone -> label -> objects, mean_s,
    max_s)."""
    return tracking_counts(client, keys, name, config).to_dict()


def camera_status(client: redis.Redis, keys: Keys, name: str, configured: bool,
                  config: CameraConfig | None) -> dict[str, Any]:
    """One camera's entry of the status contract (``config``: its stored config, if valid)."""
    raw_state = client.hgetall(keys.state(name))
    try:
        state = CameraState.from_fields(raw_state) if raw_state else CameraState("starting")
    except MessageError as exc:
        state = CameraState("error", error=f"unreadable state: {exc}")
    stats = {_text(k): int(v) for k, v in client.hgetall(keys.stats(name)).items()}
    tracking = tracking_counts(client, keys, name, config)
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
        "frames_processed": stats.get(FRAMES_PROCESSED, 0),
        "frames_dropped": state.frames_dropped,
        "frames_motion": state.frames_motion,
        "frames_still": state.frames_still,
        "detections_total": dict(sorted(tracking.detections.items())),
        "dead_letters": stats.get(DEAD_LETTERS, 0),
        "fps": state.fps,
        "last_frame_ts": state.last_frame_ts,
        "reconnects": state.reconnects,
        "error": mask_text(state.error),
        "url": mask_url(state.url),
        "configured": configured,
        "stream_length": depth,
        "pending": pending,
        "tracking": tracking.to_dict(),
    }


def broken_camera(configured: bool, error: str) -> dict[str, Any]:
    """The status entry of a camera whose keys cannot be read."""
    return {"state": "error", "frames_in": 0, "frames_processed": 0, "frames_dropped": 0,
            "frames_motion": 0, "frames_still": 0,
            "detections_total": {}, "dead_letters": 0, "fps": 0.0, "last_frame_ts": 0.0,
            "reconnects": 0, "error": f"unreadable keys: {error}", "url": "",
            "configured": configured, "stream_length": 0, "pending": 0,
            "tracking": TrackingCounts().to_dict()}


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
