"""The worker loop: batch -> decode -> one ``Detector.detect`` -> publish (idempotent) -> ack;
the next batch is read and decoded while the detector runs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol, Sequence

import cv2
import numpy as np
import redis

from common import metrics
from common.logging_setup import bind
from common.messages import (DeadLetter, DetectedObject, DetectionMessage, FrameMessage,
                             MessageError, WorkerHeartbeat)
from common.settings import WorkerSettings

from .batcher import Batcher, Entry
from .publish import Publisher

log = logging.getLogger("cctv.worker")

RATE_WINDOW_S = 10.0


class DetectorLike(Protocol):
    """What the worker needs of a detector (``detector.Detector`` is one): ``run(prepare(frames))``
    gives one list of objects per frame (label, class_id, score, box in pixels)."""

    def prepare(self, frames: Sequence[np.ndarray]) -> Any: ...

    def run(self, prepared: Any) -> list[list]: ...


def to_objects(detections: Sequence) -> list[DetectedObject]:
    """The detector's ``Detection`` objects -> protocol objects (the one model->message step)."""
    return [DetectedObject(str(d.label), int(d.class_id), float(d.score),
                           tuple(float(v) for v in d.box)) for d in detections]


@dataclass(frozen=True)
class Frame:
    """An entry read from a camera stream: decoded, or with the reason it cannot be."""

    entry: Entry
    message: FrameMessage | None = None
    image: np.ndarray | None = None
    error: str = ""


def decode(entry: Entry) -> Frame:
    """Parse and decode one entry; a malformed one comes back with ``error`` set."""
    try:
        msg = FrameMessage.from_fields(entry.fields)
        if msg.camera != entry.camera:
            raise MessageError(f"field 'camera' is {msg.camera!r} on the stream of {entry.camera!r}")
        image = cv2.imdecode(np.frombuffer(msg.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise MessageError("field 'jpeg' does not decode as an image")
    except MessageError as exc:
        return Frame(entry, error=str(exc))
    return Frame(entry, msg, image)


class Worker:
    """One detection worker (a consumer of the group on every camera stream)."""

    def __init__(self, client: redis.Redis, settings: WorkerSettings, detector: DetectorLike,
                 device: str = "cpu"):
        self.client, self.settings, self.detector = client, settings, detector
        self.keys = settings.keys
        self.id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.batcher = Batcher(client, self.keys, self.id, settings.batch_size,
                               settings.batch_wait_ms, settings.claim_idle_ms)
        self.publisher = Publisher(client, self.keys, settings.detections_maxlen,
                                   settings.done_ttl_s, settings.minute_ttl_s)
        self.beat = WorkerHeartbeat(self.id, socket.gethostname(), os.getpid(), device,
                                    time.time(), time.time())
        self._recent: deque[tuple[float, int, float]] = deque(maxlen=1000)  # (t, frames, ms)
        self._next_beat = 0.0
        self._started = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop``; every batch already read is finished first.

        The next batches are read, decoded and prepared for the network (resized) in a second
        thread while the network runs on the current one (OpenCV, NumPy, onnxruntime and torch
        release the GIL), so that CPU work overlaps the network's.
        """
        bind(worker=self.id)
        self.warm_up()
        log.info("worker %s: reading camera streams", self.id)
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="cctv-read") as reader:
                upcoming: Future | None = reader.submit(self.read)
                while upcoming is not None:
                    batches = upcoming.result()
                    upcoming = None if stop.is_set() else reader.submit(self.read)
                    for frames, prepared in batches:
                        self.finish(frames, prepared)
                    if time.monotonic() >= self._next_beat:
                        self.heartbeat()
        finally:
            self.client.delete(self.keys.worker(self.id))
            self.client.srem(self.keys.workers, self.id)

    def warm_up(self) -> None:
        """One full batch of blank frames through the detector, before the worker announces
        itself: the first run of a model (memory planning, caches) is slower."""
        blank = [np.zeros((360, 640, 3), np.uint8)] * self.settings.batch_size
        self.detector.run(self.detector.prepare(blank))

    def read(self) -> list[tuple[list[Frame], Any]]:
        """The next entries from the streams, decoded, in batches of at most ``batch_size``,
        each with its frames prepared for the detector."""
        frames = [decode(entry) for entry in self.batcher.next_batch()]
        size = self.settings.batch_size
        return [self.prepare(frames[start:start + size]) for start in range(0, len(frames), size)]

    def prepare(self, frames: list[Frame]) -> tuple[list[Frame], Any]:
        """The frames with the detector's preparation of the decodable ones."""
        return frames, self.detector.prepare([f.image for f in frames if not f.error])

    def process(self, entries: Sequence[Entry]) -> int:
        """Decode, detect, publish and ack one batch; returns how many frames were newly published."""
        return self.finish(*self.prepare([decode(entry) for entry in entries]))

    def finish(self, frames: Sequence[Frame], prepared: Any) -> int:
        """Detect (on the frames ``prepared`` by the detector), publish and ack decoded frames
        (malformed ones go to the dead letters); returns how many frames were newly published."""
        good = [f for f in frames if not f.error]
        pipe = self.client.pipeline(transaction=False)
        for bad in (f for f in frames if f.error):
            entry = bad.entry
            log.warning("dead letter %s/%s: %s", entry.camera, entry.entry_id, bad.error)
            metrics.DECODE_ERRORS.labels(entry.camera).inc()
            self.publisher.dead_letter(pipe, DeadLetter(entry.camera, entry.entry_id, bad.error,
                                                        self.id, time.time()))
            self.beat = self._with(dead_letters=self.beat.dead_letters + 1)
        started = time.perf_counter()
        results = self.detector.run(prepared) if good else []
        latency_ms = (time.perf_counter() - started) * 1000
        if good:
            metrics.BATCH_SIZE.observe(len(good))
            metrics.INFERENCE_SECONDS.observe(latency_ms / 1000)
        done = time.time()
        for frame, detections in zip(good, results):
            msg, image = frame.message, frame.image
            self.publisher.detections(pipe, DetectionMessage(
                msg.camera, frame.entry.entry_id, msg.seq, msg.ts, done, self.id, image.shape[1],
                image.shape[0], to_objects(detections)))
        replies = pipe.execute()
        published_replies = replies[len(replies) - len(good):]
        now = time.time()
        for frame, reply in zip(good, published_replies):
            if reply == 1:
                metrics.FRAMES_PROCESSED.labels(frame.message.camera).inc()
                metrics.END_TO_END_SECONDS.labels(frame.message.camera).observe(max(0.0, now - frame.message.ts))
        if good:
            self._recent.append((time.monotonic(), len(good), latency_ms))
        published = sum(1 for r in published_replies if r == 1)
        self.beat = self._with(frames=self.beat.frames + published)
        return published

    def _with(self, **changes) -> WorkerHeartbeat:
        return replace(self.beat, **changes)

    def heartbeat(self) -> None:
        """Write the heartbeat hash (expires after three missed beats) with recent throughput."""
        now = time.monotonic()
        recent = [r for r in self._recent if r[0] >= now - RATE_WINDOW_S]
        window = min(RATE_WINDOW_S, now - self._started)
        self.beat = self._with(
            ts=time.time(),
            fps=round(sum(n for _, n, _ in recent) / window, 2) if window > 0 else 0.0,
            batch_size=round(sum(n for _, n, _ in recent) / len(recent), 2) if recent else 0.0,
            latency_ms=round(sum(ms for _, _, ms in recent) / len(recent), 1) if recent else 0.0)
        ttl = max(3, int(self.settings.heartbeat_s * 3 + 1))
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.keys.worker(self.id), mapping=self.beat.to_fields())
        pipe.expire(self.keys.worker(self.id), ttl)
        pipe.sadd(self.keys.workers, self.id)
        pipe.execute()
        self._next_beat = time.monotonic() + self.settings.heartbeat_s
