"""Redis goes away under a running replay: restarted (with AOF) and stopped (SIGSTOP) for 10 s.
Every service rides it out, nothing is lost or counted twice. The test runs its own
``redis-server`` on a TCP port, which it stops and starts again; never the session's."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from running import stop_all

from common.keys import KEYS
from runtime.outage import read_losses
from runtime.redis_conn import redis_server_binary

pytestmark = pytest.mark.slow

FRAMES = 300


class RedisProcess:
    """A ``redis-server`` on 127.0.0.1:``port`` in ``folder``, with AOF (``everysec``) or none."""

    def __init__(self, folder: Path, aof: bool = True):
        self.folder, self.aof = folder, aof
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(redis_server_binary()), "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.folder), "--save", "", "--appendonly",
             "yes" if self.aof else "no", "--appendfsync", "everysec",
             "--logfile", str(self.folder / "redis.log")], stdin=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        """Shut down as an operator's ``systemctl restart`` would (SIGTERM: AOF flushed)."""
        self.proc.terminate()
        self.proc.wait(20)


def write_video(path: Path) -> Path:
    """FRAMES frames, 320x240 at 20 fps: two squares crossing."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (320, 240))
    for i in range(FRAMES):
        frame = np.full((240, 320, 3), 60, np.uint8)
        x = i * 280 // FRAMES
        cv2.rectangle(frame, (x, 40), (x + 30, 100), (0, 0, 255), -1)
        cv2.rectangle(frame, (290 - x, 140), (320 - x, 200), (255, 0, 0), -1)
        writer.write(frame)
    writer.release()
    return path


def cctv(url: str, *args: str, env_add: dict[str, str] | None = None,
         **popen) -> subprocess.Popen:
    env = dict(os.environ, REDIS_URL=url, CCTV_HEARTBEAT_S="0.5", CCTV_LANES="1",
               CCTV_NUM_THREADS="1", CCTV_TORCH_THREADS="1", **(env_add or {}))
    return subprocess.Popen([sys.executable, "-m", "cctv", *args], env=env,
                            stdin=subprocess.DEVNULL, **popen)


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except redis.RedisError:
            pass
        time.sleep(0.1)
    return False


def count(client: redis.Redis, key: str, field: str) -> int:
    return int(client.hget(key, field) or 0)


@pytest.mark.timeout(420)
def test_services_ride_out_a_restart_and_a_stop_of_redis(tmp_path):
    server = RedisProcess(tmp_path)
    server.start()
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    video = write_video(tmp_path / "walk.mp4")
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name in
            ("w1", "w2", "tracker", "rq", "ingest", "replay")}
    services = {
        "w1": cctv(server.url, "worker", "--worker-id", "w1", stderr=logs["w1"]),
        "w2": cctv(server.url, "worker", "--worker-id", "w2", stderr=logs["w2"]),
        "tracker": cctv(server.url, "tracker", stderr=logs["tracker"]),
        "rq": cctv(server.url, "rq-worker", stderr=logs["rq"]),
        "ingest": cctv(server.url, "ingest", stderr=logs["ingest"]),
    }
    replay = None
    try:
        assert wait_until(lambda: client.scard(KEYS.workers) == 2, 180), "workers did not start"
        replay = cctv(server.url, "replay", str(video), "--camera", "walk", "--realtime",
                      "--wait", "--timeout", "300", stdout=subprocess.PIPE,
                      stderr=logs["replay"], text=True)
        state = KEYS.state("walk")
        assert wait_until(lambda: count(client, state, "frames_in") >= 60, 60)
        server.stop()  # a restart: 2.5 s without Redis
        time.sleep(2.5)
        server.start()
        assert wait_until(lambda: count(client, state, "frames_in") >= 150, 90)
        server.proc.send_signal(signal.SIGSTOP)  # a hung Redis: 10 s without an answer
        time.sleep(10)
        server.proc.send_signal(signal.SIGCONT)
        out, _ = replay.communicate(timeout=240)
        summary = json.loads(out.splitlines()[-1])
        assert replay.returncode == 0 and summary.get("processed"), summary
        assert wait_until(lambda: count(client, KEYS.track_stats("walk"), "frames_tracked")
                          >= FRAMES, 60)
        assert {name: p.poll() for name, p in services.items()} == dict.fromkeys(services)
        assert count(client, state, "frames_in") == FRAMES
        assert count(client, KEYS.stats("walk"), "frames_processed") == FRAMES
        assert count(client, KEYS.track_stats("walk"), "frames_tracked") == FRAMES
        assert client.xlen(KEYS.dead_letter) == 0
        # a service whose retries all fell in the outages waits up to 10 s before its next try
        expected = {"worker w1", "worker w2", "ingest walk"}
        assert wait_until(lambda: expected <= set(read_losses(client, KEYS)), 60)
        losses = json.loads(subprocess.run(
            [sys.executable, "-m", "cctv", "status", "--json"], capture_output=True, text=True,
            env=dict(os.environ, REDIS_URL=server.url), check=True).stdout)["redis_losses"]
        assert expected <= set(losses), losses
    finally:
        stop_all([*services.values(), replay])
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
            server.stop()
        for name, log in logs.items():
            log.seek(0)
            tail = log.read()[-3000:]
            print(f"--- {name} ---\n{tail}")
            log.close()


def test_a_restart_without_persistence_is_said_and_cameras_are_seeded_again(tmp_path, caplog,
                                                                             small_video):
    """No AOF: Redis comes back empty; ingest says state was lost, seeds the file's cameras
    again and its camera goes on publishing into a new stream."""
    import threading

    from common.cameras import CameraConfig
    from ingest.service import IngestService
    from ingest.settings import IngestSettings

    server = RedisProcess(tmp_path, aof=False)
    server.start()
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    settings = IngestSettings(redis_url=server.url, camera_poll_s=0.1, stream_maxlen=50)
    camera = CameraConfig(name="loop", url=str(small_video), loop=True, realtime=True)
    service = IngestService(client, settings, [camera])
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    try:
        assert wait_until(lambda: count(client, KEYS.state("loop"), "frames_in") >= 5, 30)
        server.stop()
        time.sleep(1)
        server.start()
        assert wait_until(lambda: client.hexists(KEYS.cameras, "loop")
                          and client.sismember(KEYS.camera_names, "loop")
                          and client.xlen(KEYS.frames("loop")) >= 5
                          and client.hget(KEYS.state("loop"), "state") == b"online", 30)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(30)
        server.stop()
    assert "Redis restarted without its data (no persistence)" in caplog.text
    assert "1 camera(s) seeded again" in caplog.text


def test_a_live_camera_stays_open_and_counts_what_it_dropped(tmp_path, caplog, monkeypatch):
    """Redis restarts under a live camera: the camera is not reopened, the frames it could not
    publish meanwhile are dropped and added to frames_dropped once Redis is back."""
    import threading

    import ingest.camera
    from common.cameras import CameraConfig
    from ingest.camera import CameraRunner
    from ingest.settings import IngestSettings
    from ingest.sources import Frame, Source

    opened = []

    class LiveCamera(Source):
        live = True

        def frames(self, period=0.0):
            for index in itertools.count():
                time.sleep(0.02)
                yield Frame(np.full((120, 160, 3), 90, np.uint8), 0.0, index)

    monkeypatch.setattr(ingest.camera, "open_source",
                        lambda url, *_, **__: opened.append(url) or LiveCamera())
    server = RedisProcess(tmp_path)
    server.start()
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    settings = IngestSettings(redis_url=server.url, stream_maxlen=1000)
    stop = threading.Event()
    runner = CameraRunner(client, KEYS, CameraConfig(name="live", url="rtsp://cam/s"),
                          "rtsp://cam/s", settings, stop)
    thread = threading.Thread(target=runner.run)
    thread.start()
    state = KEYS.state("live")
    try:
        assert wait_until(lambda: count(client, state, "frames_in") >= 20, 20)
        server.stop()
        time.sleep(2)
        server.start()
        assert wait_until(lambda: count(client, state, "frames_dropped") > 0, 20)
        before = count(client, state, "frames_in")
        assert wait_until(lambda: count(client, state, "frames_in") >= before + 20, 20)
        assert client.hget(state, "state") == b"online" and thread.is_alive()
    finally:
        stop.set()
        thread.join(30)
        server.stop()
    assert opened == ["rtsp://cam/s"]  # never reopened
    assert "frames dropped while Redis was away" in caplog.text
