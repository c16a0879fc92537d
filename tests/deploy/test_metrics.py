"""Prometheus endpoints after real work: ``cctv ingest`` as a process, and a worker in-process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from runtime.metrics import serve_metrics
from workers.service import Worker
from workers.settings import WorkerSettings

CCTV = Path(sys.executable).with_name("cctv")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/metrics`` as {(name, sorted labels): value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def test_ingest_process_serves_its_metrics(redis_client, redis_url, small_video, tmp_path):
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(f"cameras:\n  - name: cam\n    url: {small_video}\n"
                       "  - name: down\n    url: rtsp://127.0.0.1:1/none\n")
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_METRICS_PORT=str(port),
               CCTV_LOG_FORMAT="json", CCTV_BACKOFF_INITIAL_S="0.1", CCTV_BACKOFF_MAX_S="0.3",
               CCTV_OPEN_TIMEOUT_S="1")
    proc = subprocess.Popen([str(CCTV), "ingest", "--cameras-file", str(cameras)], env=env,
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def done():
            try:
                samples = scrape(port)
            except OSError:
                return None
            cam = (("camera", "cam"),)
            ok = samples.get(("cctv_frames_published_total", cam)) == 40 and \
                samples.get(("cctv_reconnects_total", (("camera", "down"),)), 0) >= 2
            return samples if ok else None

        samples = wait_for(done)
        assert samples, "ingest never published 40 frames and retried the dead camera"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    cam = (("camera", "cam"),)
    assert samples[("cctv_frames_read_total", cam)] == 40
    assert samples[("cctv_stream_length", cam)] == 40
    assert samples[("cctv_stream_pending", cam)] == 0
    assert samples.get(("cctv_frames_dropped_total", cam), 0) == 0  # files wait, never drop
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    offline = [r for r in records if r.get("camera") == "down" and r["level"] == "WARNING"]
    assert offline and "offline" in offline[0]["message"]
    assert any(r.get("camera") == "cam" and "end of file" in r["message"] for r in records)


@pytest.fixture(scope="module")
def detector():
    from detector import load_detector

    return load_detector("ssdlite-person", num_threads=1)


def test_worker_metrics_after_real_batches(redis_client, redis_url, small_video, detector):
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=1000)
    cam = CameraConfig(name="metrics-cam", url=str(small_video))
    assert CameraRunner(redis_client, KEYS, cam, cam.url, settings, threading.Event()).run() \
        == "finished"
    redis_client.xadd(KEYS.frames("metrics-cam"), {"v": "1", "camera": "metrics-cam",
                                                   "jpeg": b"not a jpeg"})
    server = serve_metrics("127.0.0.1", 0)
    before = scrape(server.server_port)  # the histograms are process-wide: compare increments

    def grew(name: str, labels: tuple = ()) -> float:
        return samples[(name, labels)] - before.get((name, labels), 0)

    worker = Worker(redis_client, WorkerSettings(redis_url=redis_url, batch_size=4,
                                                 worker_id="metrics-worker"), detector)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        label = (("camera", "metrics-cam"),)
        samples = wait_for(lambda: (s := scrape(server.server_port)).get(
            ("cctv_frames_processed_total", label)) == 40
            and s.get(("cctv_decode_errors_total", label)) == 1 and s)
    finally:
        stop.set()
        thread.join(30)
        server.shutdown()
    assert samples, "the worker never processed the 40 frames and the garbage entry"
    assert samples[("cctv_end_to_end_seconds_count", label)] == 40
    assert samples[("cctv_end_to_end_seconds_sum", label)] > 0
    assert grew("cctv_batch_size_sum") == 40
    assert grew("cctv_batch_size_count") >= 10  # batches of at most 4
    assert grew("cctv_inference_seconds_count") == grew("cctv_batch_size_count")
    assert grew("cctv_batch_size_bucket", (("le", "4.0"),)) == grew("cctv_batch_size_count")
