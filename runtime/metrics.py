"""Prometheus metrics of ingest, the workers and the tracker, and the HTTP endpoint that serves them.

Labels are camera names only (validated ids, never URLs), so no credential can reach a label.
Stream depths and detection lag are read from Redis when Prometheus scrapes
(:class:`StreamDepthCollector`, :class:`DetectionPaceCollector`), so they are current without a
polling loop. See docs/operations.md for what each metric means.
"""

from __future__ import annotations

import logging
from typing import Iterator
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.keys import GROUP, Keys

from .camera_list import published_camera_names
from .status import detection_pace, tracker_error

log = logging.getLogger("cctv.metrics")

FRAMES_READ = Counter("cctv_frames_read", "Frames read from a camera source by ingest.",
                      ["camera"])
FRAMES_PUBLISHED = Counter("cctv_frames_published",
                           "Frames added to a camera's frame stream by ingest.", ["camera"])
FRAMES_DROPPED = Counter("cctv_frames_dropped",
                         "Frames trimmed from a stream by its cap before any worker got them, "
                         "or (live) replaced by a newer frame before ingest published them.",
                         ["camera"])
RECONNECTS = Counter("cctv_reconnects", "Times a camera went offline and is retried.", ["camera"])
FRAMES_PROCESSED = Counter("cctv_frames_processed",
                           "Frames whose detections this worker published (each frame once).",
                           ["camera"])
FRAMES_CARRIED = Counter("cctv_frames_carried",
                         "Frames published without running the detector (nothing moved): the "
                         "objects of an earlier frame carried over.", ["camera"])
FRAMES_SKIPPED = Counter("cctv_frames_skipped",
                         "Frames of a live camera a worker skipped because they were older than "
                         "its max_lag_s (published with the newest objects carried).", ["camera"])
RECORDED_BYTES = Counter("cctv_recorded_bytes",
                         "Bytes of recording segments ingest closed (stream copy or encoded).",
                         ["camera"])
RECORDING_ERRORS = Counter("cctv_recording_errors",
                           "Recording segments lost to a write error (a full disk...): frames "
                           "are still published.", ["camera"])
DECODE_ERRORS = Counter("cctv_decode_errors",
                        "Frame entries a worker could not parse or decode (sent to the dead-"
                        "letter stream).", ["camera"])
BATCH_SIZE = Histogram("cctv_batch_size", "Frames per Detector.detect call.",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
INFERENCE_SECONDS = Histogram("cctv_inference_seconds",
                              "Duration of one batched Detector.detect call.",
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
END_TO_END_SECONDS = Histogram("cctv_end_to_end_seconds",
                               "Capture (ingest timestamp) to detections published.", ["camera"],
                               buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
FRAMES_TRACKED = Counter("cctv_frames_tracked",
                         "Frames this tracker tracked and wrote (each frame once).", ["camera"])
TRACKER_SKIPPED = Counter("cctv_tracker_skipped",
                          "Detections entries the tracker skipped: reason=bad_entries (does not "
                          "parse) or late_frames (came after a later frame was tracked).",
                          ["camera", "reason"])
CAMERAS_TRACKED = Gauge("cctv_cameras_tracked", "Cameras whose tracker lock this process holds.")
WEBHOOK_DELIVERIES = Counter("cctv_webhook_deliveries",
                             "Webhook deliveries finished by cctv webhooks: outcome=delivered "
                             "(2xx), failed (a 4xx, a refused address, or retries used up) or "
                             "dropped (the receiver's queue was full).", ["outcome"])
WEBHOOK_RETRIES = Counter("cctv_webhook_retries",
                          "Webhook tries repeated after a 5xx, a timeout or a connection error.")
WEBHOOK_QUEUED = Gauge("cctv_webhook_queued", "Webhook deliveries waiting or in progress.")


class StreamDepthCollector(Collector):
    """At scrape time: length and unacknowledged entries of every camera's frame stream."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self.client, self.keys = client, keys

    def collect(self) -> Iterator[GaugeMetricFamily]:
        length = GaugeMetricFamily("cctv_stream_length", "Entries in a camera's frame stream "
                                   "(bounded by stream_maxlen).", labels=["camera"])
        pending = GaugeMetricFamily("cctv_stream_pending", "Frames handed to a worker and not "
                                    "acknowledged yet.", labels=["camera"])
        try:
            cameras = published_camera_names(self.client, self.keys)
            pipe = self.client.pipeline(transaction=False)
            for camera in cameras:
                pipe.xlen(self.keys.frames(camera))
                pipe.xpending(self.keys.frames(camera), GROUP)
            replies = pipe.execute(raise_on_error=False)
        except redis.RedisError as exc:
            log.warning("stream depths unavailable: %s", exc)
            return
        for i, camera in enumerate(cameras):
            xlen, info = replies[2 * i], replies[2 * i + 1]
            if isinstance(xlen, int):
                length.add_metric([camera], xlen)
            if isinstance(info, dict):
                pending.add_metric([camera], info.get("pending", 0))
        yield length
        yield pending

    def describe(self) -> list:
        return []


class DetectionPaceCollector(Collector):
    """At scrape time: each camera's capture-to-detection lag and the share of its frames
    detection keeps up with (:func:`runtime.status.detection_pace`)."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self.client, self.keys = client, keys

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily("cctv_camera_lag_seconds", "Capture to detection: the workers' "
                                "recent median.", labels=["camera"])
        ratio = GaugeMetricFamily("cctv_camera_detected_ratio", "Share of a camera's recent "
                                  "frames not skipped for lag (under 0.9: detection falls "
                                  "behind).", labels=["camera"])
        fault = GaugeMetricFamily("cctv_camera_tracker_fault", "1 while the tracker has stopped "
                                  "the camera for a fault of its own keys (cctv status names "
                                  "the key), else 0.", labels=["camera"])
        try:
            for camera in published_camera_names(self.client, self.keys):
                pace = detection_pace(self.client, self.keys, camera)
                if pace.lag_s is not None:
                    lag.add_metric([camera], pace.lag_s)
                ratio.add_metric([camera], pace.detected_ratio)
                fault.add_metric([camera], float(bool(tracker_error(self.client, self.keys,
                                                                    camera))))
        except redis.RedisError as exc:
            log.warning("detection lag unavailable: %s", exc)
            return
        yield lag
        yield ratio
        yield fault

    def describe(self) -> list:
        return []


def serve_metrics(host: str, port: int, client: redis.Redis | None = None,
                  keys: Keys | None = None, registry: CollectorRegistry = REGISTRY
                  ) -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread (``server.shutdown()`` stops it);
    with ``client``, the stream depths of ``keys``' cameras are included."""
    if client is not None:
        registry.register(StreamDepthCollector(client, keys or Keys()))
        registry.register(DetectionPaceCollector(client, keys or Keys()))
    server, _ = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server
