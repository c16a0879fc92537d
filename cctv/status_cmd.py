"""``cctv status [--json]``: cameras, workers, queue depths, counts, webhooks, Redis nodes and
losses, MQTT bridges; exit 3 when Redis cannot be read."""

from __future__ import annotations

import json
import sys
import time

import redis

from common.urls import mask_text
from runtime.settings import CommonSettings, from_env
from runtime.status import CameraStatus, collect_status, lag_line

from .errors import explain
from .process import client_for


def cmd_status(args) -> int:
    from runtime.redis_conn import connect_queue

    settings = from_env(CommonSettings)
    try:
        queue = connect_queue(settings) if settings.queue_url else None
        status = collect_status(client_for(settings), settings.keys, queue)
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:  # down, refused
        error = mask_text(explain(exc)[1])
        if args.json:
            print(json.dumps({"error": error}))
        print(f"cctv: status: {error}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
        return 0
    print(f"{'camera':16} {'state':9} {'in':>7} {'done':>7} {'dropped':>7} {'fps':>6}  detections")
    for name, cam in status.cameras.items():
        dets = ", ".join(f"{k}={v}" for k, v in cam.detections_total.items()) or "-"
        print(f"{name:16} {cam.state:9} {cam.frames_in:7} {cam.frames_processed:7} "
              f"{cam.frames_dropped:7} {cam.fps:6.1f}  {dets}"
              + (f"  ({cam.error})" if cam.error else ""))
        for line in camera_details(cam):
            print(f"{'':16} {line}")
    for w in status.workers:
        age = time.time() - w.ts
        print(f"worker {w.worker} on {w.device}: {w.frames} frames, {w.fps} fps, "
              f"batch {w.batch_size}, {w.latency_ms} ms/batch, seen {age:.0f}s ago")
    if not status.workers:
        print("no live workers (start one: cctv worker)")
    print(f"queued replays: {status.queues.replays}, dead letters: {status.queues.dead_letters}")
    hooks = status.webhooks
    if hooks.delivered or hooks.failed or hooks.dropped or hooks.pending:
        print(f"webhooks: {hooks.delivered} delivered, {hooks.failed} failed, {hooks.dropped} "
              f"dropped, {hooks.retries} retries, {hooks.pending} pending"
              + (f" (last error: {hooks.last_error})" if hooks.last_error else ""))
    for node in status.redis_cluster:
        print(f"redis {node.role} {node.address}: {node.state}"
              + (f", {node.slots} slots" if node.role == "master" else f", of {node.master}"))
    for service, loss in status.redis_losses.items():
        lost = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(loss.lost))
        print(f"{service} last lost Redis at {lost} for {loss.back - loss.lost:.1f}s")
    for bridge in status.mqtt.values():
        print(f"mqtt {bridge.client_id}: {bridge.state} {bridge.broker}"
              + (f" ({bridge.error})" if bridge.error else "")
              + f", {bridge.published} published, {bridge.dropped} dropped")
    return 0


def camera_details(cam: CameraStatus) -> list[str]:
    """The lines under a camera's row: what the tracker counted, its streams' memory in Redis
    and the detection lag, and the tracker's or recording's fault when there is one."""
    lines = []
    tracking = cam.tracking.to_dict()
    if any(tracking.values()):
        lines.append(f"tracked: {tracking_line(tracking)}")
    lag = lag_line(cam)
    lines.append(f"redis {size_text(cam.redis_bytes)} of streams" + (f" · {lag}" if lag else ""))
    if cam.tracker_error:
        lines.append(f"tracker error: {cam.tracker_error}")
    if cam.recording_error:
        lines.append(f"recording error: {cam.recording_error}")
    return lines


def size_text(n_bytes: int) -> str:
    """``840 kB`` below a megabyte, ``12.3 MB`` from one."""
    return f"{n_bytes / 1e3:.0f} kB" if n_bytes < 1e6 else f"{n_bytes / 1e6:.1f} MB"


def tracking_line(tracking: dict) -> str:
    """``unique person=3; line door in person=1 out -; zone bench person=1; dwell bench person
    mean 4.2s max 9.0s``."""
    def counts(labels: dict) -> str:
        return ",".join(f"{k}={v}" for k, v in labels.items()) or "-"

    parts = [f"unique {counts(tracking['unique'])}"]
    parts += [f"line {name} in {counts(c['in'])} out {counts(c['out'])}"
              for name, c in tracking["lines"].items()]
    parts += [f"zone {name} {counts(c)}" for name, c in tracking["zones"].items()]
    parts += [f"dwell {zone} {label} mean {d['mean_s']:.1f}s max {d['max_s']:.1f}s"
              for zone, labels in tracking["dwell"].items() for label, d in labels.items()]
    return "; ".join(parts)


def register(sub) -> None:
    """Add ``status`` to the ``cctv`` command's subparsers."""
    p = sub.add_parser("status", help="cameras, workers, queue depths and counts")
    p.add_argument("--json", action="store_true", help="machine-readable (a stable contract)")
    p.set_defaults(func=cmd_status)
