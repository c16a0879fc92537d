"""The worker loop: batch -> decode -> one ``Detector.detect`` -> publish (idempotent) -> ack."""

from __future__ import annotations

import logging
import os
import socket
import statistics
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol, Sequence

import cv2
import numpy as np
import redis

from common.counts import LAG_MS
from common.fields import MessageError
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.records import DeadLetter, WorkerHeartbeat
from common.urls import mask_text
from runtime import metrics
from runtime.logging_setup import bind
from runtime.outage import REDIS_DOWN, REDIS_FAILED, Outage

from .batcher import Batcher, Entry
from .carry import CarryOver
from .jpeg import jpeg_size
from .publish import Publisher
from .settings import WorkerSettings

log = logging.getLogger("cctv.worker")

RATE_WINDOW_S = 10.0
LAG_WINDOW = 25
"""Detections per camera whose capture-to-detection times make its ``lag_ms`` median."""


class DetectorLike(Protocol):
    def detect(self, frames: Sequence[np.ndarray]) -> list[list]: ...


MAX_DEFAULT_LANES = 4  # each lane holds its own batch's activations: bound the memory by default


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity (a container's cpuset, or the share ``cctv up``
    gives each of several workers), else all the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def plan_lanes(lanes: int | None, num_threads: int | None, cuda: bool, cpus: int) -> tuple[int, int | None]:
    """(lanes, CPU threads per lane) for a worker, from the settings (None = unset).

    On CUDA, 2 lanes: one batch's decoding and resizing overlap the other's network. On CPU, the
    cores are shared out: by default one single-threaded lane per core (at most 4 lanes, then
    more threads each), because independent single-threaded inferences measured faster than one
    inference on all cores.
    """
    if cuda:
        return lanes or 2, num_threads
    if lanes is None:
        lanes = max(1, cpus // num_threads) if num_threads else min(cpus, MAX_DEFAULT_LANES)
    return lanes, num_threads or max(1, cpus // lanes)


def to_objects(detections: Sequence) -> list[DetectedObject]:
    """The detector's ``Detection`` objects -> protocol objects (the one model->message step)."""
    return [DetectedObject(str(d.label), int(d.class_id), float(d.score),
                           tuple(float(v) for v in d.box)) for d in detections]


def parse(entry: Entry) -> FrameMessage:
    """Parse one entry, or raise MessageError with the reason."""
    msg = FrameMessage.from_fields(entry.fields)
    if msg.camera != entry.camera:
        raise MessageError(f"field 'camera' is {msg.camera!r} on the stream of {entry.camera!r}")
    return msg


def decode(entry: Entry, max_pixels: int) -> tuple[FrameMessage, np.ndarray]:
    """Parse and decode one entry, or raise MessageError with the reason; a JPEG whose header
    claims more than ``max_pixels`` is refused before anything is allocated for it."""
    msg = parse(entry)
    width, height = jpeg_size(msg.jpeg)
    if width * height > max_pixels:
        raise MessageError(f"JPEG of {width}x{height} is over the {max_pixels} pixel limit")
    image = cv2.imdecode(np.frombuffer(msg.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise MessageError("field 'jpeg' does not decode as an image")
    return msg, image


def reason(exc: BaseException) -> str:
    """A dead letter's one-line reason: a message error as it is, anything else with its type."""
    text = str(exc) if isinstance(exc, MessageError) else f"{type(exc).__name__}: {exc}"
    return mask_text(" ".join(text.split()))[:500]


class Worker:
    """One detection worker (a consumer of the group on every camera stream)."""

    def __init__(self, client: redis.Redis, settings: WorkerSettings, detector: DetectorLike,
                 device: str = "cpu"):
        self.client, self.settings, self.detector = client, settings, detector
        self.keys = settings.keys
        self.id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.batcher = Batcher(client, self.keys, self.id, settings.batch_size,
                               settings.batch_wait_ms, settings.claim_idle_ms,
                               max_deliveries=settings.max_deliveries)
        self.publisher = Publisher(client, self.keys, settings.detections_maxlen,
                                   settings.done_ttl_s, settings.minute_ttl_s)
        self.beat = WorkerHeartbeat(self.id, socket.gethostname(), os.getpid(), device,
                                    time.time(), time.time(), model=settings.detector)
        self._recent: deque[tuple[float, int, float]] = deque(maxlen=1000)  # (t, frames, ms)
        self._next_beat = 0.0
        self._started = time.monotonic()
        self.lanes = settings.lanes or 1
        self._read_lock = threading.Lock()
        self.outage = Outage(client, self.keys, f"worker {self.id}", log)
        self._lock = threading.Lock()  # guards the heartbeat (beat, _recent, _next_beat), _lags
        self.carry = CarryOver()
        self._lags: dict[str, deque[float]] = {}  # camera -> recent capture-to-detection s

    def run(self, stop: threading.Event) -> None:
        """Process batches until ``stop`` in ``settings.lanes`` threads, each with its own batch
        in flight; every batch already read is finished first.

        Lanes overlap one batch's CPU work (reading, JPEG decoding, resizing) with another's
        network, and on a CPU-only host let single-threaded inferences share the cores, which
        measured faster than one inference on all threads (``bench/pipeline.py``).
        """
        bind(worker=self.id)
        self.warm_up()
        log.info("worker %s: reading camera streams in %d lane(s)", self.id, self.lanes)
        failed = threading.Event()  # one lane failed: the others finish their batch and stop
        try:
            with ThreadPoolExecutor(self.lanes, thread_name_prefix="cctv-lane") as pool:
                lanes = [pool.submit(self._lane, stop, failed) for _ in range(self.lanes)]
                for lane in lanes:
                    lane.result()
        finally:
            try:
                self.client.delete(self.keys.worker(self.id))
                self.client.srem(self.keys.workers, self.id)
            except REDIS_DOWN:
                pass  # the heartbeat expires by itself

    def _lane(self, stop: threading.Event, failed: threading.Event) -> None:
        """Read a batch, process it, beat when due; until ``stop`` or another lane failed."""
        bind(worker=self.id)
        try:
            while not (stop.is_set() or failed.is_set()):
                try:
                    self._step()
                except REDIS_FAILED as exc:  # what was read stays pending, read again after
                    if not self.outage.failed(exc, stop):
                        break
        except BaseException:
            failed.set()
            raise

    def _step(self) -> None:
        with self._read_lock:  # the batcher's state is not shared across threads
            batch = self.batcher.next_batch()
            if self.outage.back():
                self.batcher.reread_own()
        # frames to detect first: a skipped frame carries the newest objects of its camera
        batch = [e for e in batch if not e.skipped] + [e for e in batch if e.skipped]
        for start in range(0, len(batch), self.settings.batch_size):
            self.process(batch[start:start + self.settings.batch_size])
        with self._lock:
            if time.monotonic() >= self._next_beat:
                self.heartbeat()

    def warm_up(self) -> None:
        """One full batch of blank frames through the detector, before the worker announces
        itself: the first run of a model (memory planning, caches) is slower."""
        self.detector.detect([np.zeros((360, 640, 3), np.uint8)] * self.settings.batch_size)

    def process(self, entries: list[Entry]) -> int:
        """Detect, publish and ack one batch; returns how many frames were newly published.

        An entry that fails on its own (parse, decode, detection, building its message) is
        dead-lettered with the reason and the rest of the batch goes on; so is one delivered more
        than ``max_deliveries`` times, without being tried again.
        """
        good: list[tuple[Entry, FrameMessage, np.ndarray]] = []
        still: list[tuple[Entry, FrameMessage]] = []  # nothing moved: objects carried over
        skipped: list[tuple[Entry, FrameMessage]] = []  # stale: newest objects carried over
        failed: list[tuple[Entry, str]] = []
        detected = self.carry.known()
        for entry in entries:
            if entry.deliveries > self.settings.max_deliveries:
                failed.append((entry, f"delivered {entry.deliveries} times without being "
                                      f"processed (max_deliveries {self.settings.max_deliveries})"))
                continue
            try:
                msg = parse(entry)
                if entry.skipped:
                    skipped.append((entry, msg))
                    continue
                if self.carry.can_carry(msg, detected.get(msg.camera)):
                    still.append((entry, msg))
                    continue
                good.append((entry, *decode(entry, self.settings.max_frame_pixels)))
                detected[msg.camera] = max(msg.ts, detected.get(msg.camera, msg.ts))
            except Exception as exc:  # poison input costs one entry, never the worker
                failed.append((entry, reason(exc)))
        started = time.perf_counter()
        results = self._detect([image for _, _, image in good])
        latency_ms = (time.perf_counter() - started) * 1000
        if good:
            metrics.BATCH_SIZE.observe(len(good))
            metrics.INFERENCE_SECONDS.observe(latency_ms / 1000)
        done = time.time()
        messages: list[DetectionMessage] = []
        for (entry, msg, image), result in zip(good, results):
            try:
                if isinstance(result, Exception):
                    raise result
                messages.append(DetectionMessage(
                    msg.camera, entry.entry_id, msg.seq, msg.ts, done, self.id, image.shape[1],
                    image.shape[0], to_objects(result)))
            except Exception as exc:
                failed.append((entry, reason(exc)))
        lags = self._note_lags(messages, done)
        messages = self.carry.fill(messages, [(e.entry_id, m) for e, m in still], done, self.id,
                                   [(e.entry_id, m) for e, m in skipped])
        skipped_ids = {e.entry_id for e, _ in skipped}
        pipe = self.client.pipeline(transaction=False)
        for entry, why in failed:
            log.warning("dead letter %s/%s: %s", entry.camera, entry.entry_id, why)
            metrics.DECODE_ERRORS.labels(entry.camera).inc()
            self.publisher.dead_letter(pipe, DeadLetter(entry.camera, entry.entry_id, why,
                                                        self.id, time.time()))
        for message in messages:
            self.publisher.detections(pipe, message, message.frame_id in skipped_ids)
        for camera, (minute, lag_s) in lags.items():  # its TTL as the publish script sets it
            pipe.hset(self.keys.minute(camera, minute), LAG_MS, round(lag_s * 1000))
            pipe.expire(self.keys.minute(camera, minute), self.settings.minute_ttl_s)
        replies = pipe.execute(raise_on_error=False)[:len(failed) + len(messages)]
        written = [(e.camera, e.entry_id) for e, _ in failed] + \
            [(m.camera, m.frame_id) for m in messages]
        for (camera, entry_id), reply in zip(written, replies):
            if isinstance(reply, redis.ResponseError):  # e.g. a key of the wrong type
                log.error("frame %s/%s: its result was refused, left pending: %s", camera,
                          entry_id, reply)
        replies = replies[len(failed):]
        now = time.time()
        for message, reply in zip(messages, replies):
            if reply == 1:
                metrics.FRAMES_PROCESSED.labels(message.camera).inc()
                if message.carried:
                    metrics.FRAMES_CARRIED.labels(message.camera).inc()
                if message.frame_id in skipped_ids:
                    metrics.FRAMES_SKIPPED.labels(message.camera).inc()
                metrics.END_TO_END_SECONDS.labels(message.camera).observe(
                    max(0.0, now - message.ts))
        published = sum(1 for r in replies if r == 1)
        with self._lock:
            if good:
                self._recent.append((time.monotonic(), len(good), latency_ms))
            self.beat = self._with(frames=self.beat.frames + published,
                                   dead_letters=self.beat.dead_letters + len(failed))
        return published

    def _note_lags(self, detected: list[DetectionMessage], done: float
                   ) -> dict[str, tuple[int, float]]:
        """Add each detection's capture-to-detection time to its camera's recent ones; per
        camera detected now, the minute of its newest frame and the median of those times."""
        newest: dict[str, float] = {}
        with self._lock:
            for msg in detected:
                self._lags.setdefault(msg.camera, deque(maxlen=LAG_WINDOW)).append(done - msg.ts)
                newest[msg.camera] = max(newest.get(msg.camera, msg.ts), msg.ts)
            return {camera: (int(ts // 60), statistics.median(self._lags[camera]))
                    for camera, ts in newest.items()}

    def _detect(self, images: list[np.ndarray]) -> list[list | Exception]:
        """Detections per image; when the batch fails, each image alone, its error in its place.

        If a blank frame fails too, the detector itself is broken (a lost device), not the
        input: the batch's error is raised and the frames stay pending for another worker.
        """
        if not images:
            return []
        try:
            return self.detector.detect(images)
        except Exception as exc:
            error = exc
        try:
            self.detector.detect([np.zeros((64, 64, 3), np.uint8)])
        except Exception:
            raise error
        results: list[list | Exception] = []
        for image in images:
            try:
                results.append(self.detector.detect([image])[0])
            except Exception as exc:
                results.append(exc)
        return results

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
