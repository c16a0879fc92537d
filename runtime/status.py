"""A snapshot of the whole pipeline from Redis: cameras, workers, queue depths, counts.

``collect_status`` returns a :class:`Status` that the dashboard and ``cctv status`` read;
:meth:`Status.to_dict` is what ``cctv status --json`` prints (a stable contract: keys are only
ever added).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import redis
from redis.cluster import RedisCluster

from common.cameras import CameraConfig, is_camera_name
from common.counts import (
    DEAD_LETTERS,
    FRAMES_PROCESSED,
    FRAMES_SKIPPED,
    KEEPS_UP_RATIO,
    DetectionPace,
    TrackingCounts,
)
from common.fields import MessageError, field_text, text
from common.keys import GROUP, RQ_QUEUE_KEY, WEBHOOKS_GROUP, Keys
from common.mqtt import BridgeState
from common.records import (
    TRACKER_ERROR_FIELD,
    CameraState,
    RedisLoss,
    WorkerHeartbeat,
    count_dead_letters,
)
from common.urls import mask_text, mask_url

from .bridge_state import read_bridge_states
from .camera_list import published_camera_names, valid_camera_json
from .outage import read_losses
from .recordings import RECORDING_ERROR_FIELD


def tracking_counts(client: redis.Redis, keys: Keys, name: str,
                    config: CameraConfig | None) -> TrackingCounts:
    """The tracker's totals of one camera, every configured line and zone present."""
    return TrackingCounts.parse(client.hgetall(keys.track_stats(name)),
                                client.hgetall(keys.zones(name)),
                                client.hgetall(keys.in_view(name)),
                                [line.name for line in config.lines] if config else [],
                                [zone.name for zone in config.zones] if config else [])


@dataclass
class CameraStatus:
    """One camera: ingest's state, the workers' frame counts, the stream and the tracker's
    counts (``detections_total`` is the tracker's ``det:<label>``)."""

    state: str = "starting"
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_motion: int = 0
    frames_still: int = 0
    detections_total: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    fps: float = 0.0
    last_frame_ts: float = 0.0
    reconnects: int = 0
    error: str = ""
    url: str = ""
    configured: bool = False
    stream_length: int = 0
    pending: int = 0
    redis_bytes: int = 0
    """Memory the camera's frame, detections and tracks streams take in Redis."""
    tracker_error: str = ""
    """Why the tracker stopped counting this camera (a key of the wrong type, named); empty
    while it is sound."""
    frames_skipped: int = 0
    """Frames older than the camera's ``max_lag_s`` that workers skipped (objects carried)."""
    lag_s: float | None = None
    """Capture to detection, the workers' recent median (None: nothing detected lately)."""
    detected_ratio: float = 1.0
    """Frames processed over the last minute or two that were not skipped for lag."""
    recording_error: str = ""
    """Why ingest cannot record this camera (a full disk...); empty while it records or is not
    asked to."""
    tracking: TrackingCounts = field(default_factory=TrackingCounts)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**data, "tracking": self.tracking.to_dict()}


def lag_line(camera: CameraStatus) -> str:
    """``lag 0.4s`` (capture to detection), with how much of the camera detection keeps up with
    and what to do when it falls behind; "" before any detection (Health, Live captions and
    ``cctv status`` show it)."""
    if camera.lag_s is None:
        return ""
    line = f"lag {camera.lag_s:.1f}s"
    if camera.detected_ratio < KEEPS_UP_RATIO:
        line += (f" · detection keeps up with {camera.detected_ratio:.0%} of frames: start "
                 "another worker, lower the camera's fps, use an int8 model or turn on motion "
                 "gating")
    return line


@dataclass
class Queues:
    """Depths: replay jobs waiting, entries in the dead-letter stream."""

    replays: int = 0
    dead_letters: int = 0


@dataclass
class WebhookStats:
    """``cctv webhooks`` totals (``cctv:webhook-stats``) and event changes not finished yet."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0
    pending: int = 0
    last_error: str = ""
    last_error_ts: float = 0.0


def webhook_stats(client: redis.Redis, keys: Keys) -> WebhookStats:
    """The webhooks sender's totals; ``pending``: entries of its group not acknowledged."""
    raw = {text(k): text(v) for k, v in client.hgetall(keys.webhook_stats).items()}
    pending = 0
    try:
        for group in client.xinfo_groups(keys.event_updates):
            if text(group["name"]) == WEBHOOKS_GROUP:
                pending = int(group["pending"])
    except redis.ResponseError:  # no event stream yet
        pass

    def number(name: str, kind: type = int):
        try:
            return kind(raw.get(name, 0))
        except ValueError:
            return kind(0)
    return WebhookStats(number("delivered"), number("failed"), number("dropped"),
                        number("retries"), pending, mask_text(raw.get("last_error", "")),
                        number("last_error_ts", float))


@dataclass(frozen=True)
class ClusterNodeState:
    """One node of a Redis Cluster as the cluster sees it (``CLUSTER NODES``): ``state`` is
    ``ok``, ``fail?`` (unreachable for one node), ``fail`` (agreed failed), ``handshake`` or
    ``disconnected``; a replica names its master."""

    address: str
    role: str
    state: str
    master: str | None = None
    slots: int = 0


def cluster_state(client) -> list[ClusterNodeState]:
    """The cluster's nodes by address (empty unless ``client`` is a cluster client)."""
    if not isinstance(client, RedisCluster):
        return []
    nodes = client.cluster_nodes()
    by_id = {n["node_id"]: address for address, n in nodes.items()}
    out = []
    for address, node in sorted(nodes.items()):
        flags = set(node["flags"].split(","))
        state = next((f for f in ("fail", "fail?", "handshake", "noaddr") if f in flags),
                     "ok" if node.get("connected", True) else "disconnected")
        slots = sum(int(r[-1]) - int(r[0]) + 1 for r in node.get("slots", []) if len(r) <= 2)
        out.append(ClusterNodeState(address, "master" if "master" in flags else "replica", state,
                                    by_id.get(node.get("master_id", "-")), slots))
    return out


@dataclass
class Status:
    """The whole pipeline: cameras by name, live workers, queues, each service's last outage."""

    cameras: dict[str, CameraStatus] = field(default_factory=dict)
    workers: list[WorkerHeartbeat] = field(default_factory=list)
    queues: Queues = field(default_factory=Queues)
    redis_losses: dict[str, RedisLoss] = field(default_factory=dict)
    mqtt: dict[str, BridgeState] = field(default_factory=dict)
    """Running MQTT bridges (``cctv mqtt``) by client id."""
    webhooks: WebhookStats = field(default_factory=WebhookStats)
    """The webhooks sender's totals (``cctv webhooks``)."""
    redis_cluster: list[ClusterNodeState] = field(default_factory=list)
    """The Redis Cluster's nodes (none on one Redis)."""

    def labels(self) -> list[str]:
        """Every label any camera has counted, sorted."""
        return sorted({label for cam in self.cameras.values()
                       for label in (*cam.detections_total, *cam.tracking.unique)})

    def to_dict(self) -> dict[str, Any]:
        """The ``cctv status --json`` contract."""
        return {"cameras": {name: cam.to_dict() for name, cam in self.cameras.items()},
                "workers": [w.to_dict() for w in self.workers],
                "queues": asdict(self.queues),
                "webhooks": asdict(self.webhooks),
                "redis_losses": {service: {"lost": loss.lost, "back": loss.back}
                                 for service, loss in self.redis_losses.items()},
                "mqtt": {client_id: state.to_dict() for client_id, state in self.mqtt.items()},
                "redis_cluster": [asdict(node) for node in self.redis_cluster]}


def camera_status(client: redis.Redis, keys: Keys, name: str, configured: bool,
                  config: CameraConfig | None) -> CameraStatus:
    """One camera's status (``config``: its stored config, if valid)."""
    raw_state = client.hgetall(keys.state(name))
    try:
        state = CameraState.from_fields(raw_state) if raw_state else CameraState("starting")
    except MessageError as exc:
        state = CameraState("error", error=f"unreadable state: {exc}")
    stats = {text(k): int(v) for k, v in client.hgetall(keys.stats(name)).items()}
    tracking = tracking_counts(client, keys, name, config)
    pace = detection_pace(client, keys, name)
    stream = keys.frames(name)
    depth = client.xlen(stream)
    pending = 0
    if depth:
        try:
            pending = int(client.xpending(stream, GROUP)["pending"])
        except redis.ResponseError:  # no group yet
            pending = 0
    return CameraStatus(
        state=state.state, frames_in=state.frames_in,
        frames_processed=stats.get(FRAMES_PROCESSED, 0), frames_dropped=state.frames_dropped,
        frames_motion=state.frames_motion, frames_still=state.frames_still,
        detections_total=dict(sorted(tracking.detections.items())),
        dead_letters=stats.get(DEAD_LETTERS, 0), fps=state.fps,
        last_frame_ts=state.last_frame_ts, reconnects=state.reconnects,
        error=mask_text(state.error), url=mask_url(state.url), configured=configured,
        stream_length=depth, pending=pending, redis_bytes=stream_bytes(client, keys, name),
        tracker_error=tracker_error(client, keys, name), tracking=tracking,
        frames_skipped=stats.get(FRAMES_SKIPPED, 0), lag_s=pace.lag_s,
        detected_ratio=pace.detected_ratio,
        recording_error=mask_text(field_text(raw_state, RECORDING_ERROR_FIELD, "")))


PACE_MINUTES = 2
"""Minute buckets (the current one and those before) that ``lag_s`` and ``detected_ratio``
read: a full minute and the one under way."""


def detection_pace(client: redis.Redis, keys: Keys, name: str,
                   now: float | None = None) -> DetectionPace:
    """How detection keeps up with the camera, from its recent minute buckets."""
    last = int((time.time() if now is None else now) // 60)
    pipe = client.pipeline(transaction=False)
    for minute in range(last - PACE_MINUTES + 1, last + 1):
        pipe.hgetall(keys.minute(name, minute))
    return DetectionPace.parse(pipe.execute())


def tracker_error(client: redis.Redis, keys: Keys, name: str) -> str:
    """The tracker's stored fault of the camera, masked and cut to one short line."""
    try:
        raw = client.hget(keys.tracker_state(name), TRACKER_ERROR_FIELD)
    except redis.ResponseError:  # the state key itself holds the wrong type
        return f"{keys.tracker_state(name)} is not a hash"
    return mask_text(text(raw))[:300] if raw else ""


def stream_bytes(client: redis.Redis, keys: Keys, name: str) -> int:
    """Bytes of the camera's streams in Redis (``MEMORY USAGE``, sampled; 0 where a server
    refuses the command)."""
    total = 0
    for key in (keys.frames(name), keys.detections(name), keys.tracks(name)):
        try:
            total += int(client.memory_usage(key) or 0)
        except redis.ResponseError:
            return 0
    return total


def collect_status(client: redis.Redis, keys: Keys, queue: redis.Redis | None = None) -> Status:
    """Cameras (configured or with a stream), live workers and queue depths (replays in
    ``queue``, the Redis of replay jobs when it is another one, as on a cluster)."""
    configured = {text(n): raw for n, raw in client.hgetall(keys.cameras).items()}
    names = sorted({n for n in configured if is_camera_name(n)}
                   | set(published_camera_names(client, keys)))
    workers = []
    for worker_id in sorted(text(w) for w in client.smembers(keys.workers)):
        fields = client.hgetall(keys.worker(worker_id))
        if not fields:
            client.srem(keys.workers, worker_id)  # heartbeat expired: the worker is gone
            continue
        try:
            workers.append(WorkerHeartbeat.from_fields(fields))
        except MessageError:
            continue
    cameras = {}
    for name in names:
        try:
            cameras[name] = camera_status(client, keys, name, name in configured,
                                          valid_camera_json(configured.get(name), name))
        except redis.ResponseError as exc:  # e.g. one of its keys holds the wrong type
            cameras[name] = CameraStatus("error", error=f"unreadable keys: {mask_text(str(exc))}",
                                         configured=name in configured)
    return Status(cameras, workers,
                  Queues((queue or client).llen(RQ_QUEUE_KEY), count_dead_letters(client, keys)),
                  dict(sorted(read_losses(client, keys).items())),
                  read_bridge_states(client, keys), webhooks=webhook_stats(client, keys),
                  redis_cluster=cluster_state(client))
