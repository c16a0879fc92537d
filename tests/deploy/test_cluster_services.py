"""The pipeline on a real 6-node Redis Cluster (3 masters, 3 replicas, ``tests/cluster.py``):
ingest, two workers and the tracker as ``python -m cctv ...`` processes, as
``test_redis_outage.py`` runs them.

1. Eight cameras (on all three masters) replayed from a file: every frame processed once, and
   the counts equal to the same run on one Redis (its services in threads of this process).
2. The master holding a camera's slot is SIGKILLed mid-replay: its replica takes over, the
   services carry on by themselves and the replays finish. Frames lost or processed twice are
   printed (asynchronous replication may lose a master's last writes); cameras on the other
   masters lose nothing and count nothing twice.
3. The killed node is started again empty and rejoins: nothing crashes, ``cctv status`` answers
   and shows the services' outages.

The services run through the three parts; each part has cameras of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest
import redis
from cluster import WAIT_S, redis_cluster  # noqa: F401 (fixture)
from running import stop_all

from common.cameras import CameraConfig
from common.keys import GROUP
from common.messages import DetectionMessage
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera
from runtime.settings import from_env
from tracking.reorder import order_key
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings

pytestmark = pytest.mark.slow

FRAMES = 40
"""Frames of each camera of part 1 (as fast as the workers take them)."""

LIVE_FRAMES = 160
"""Frames of each camera of part 2, in real time at 10 fps: 16 s, so the kill lands early and the
cameras it hit still have frames to send once a replica is promoted (a 2-core CI took 4.7 s)."""

ENV = {"CCTV_HEARTBEAT_S": "0.5", "CCTV_LANES": "1", "CCTV_NUM_THREADS": "1",
       "CCTV_TORCH_THREADS": "1", "CCTV_BATCH_SIZE": "1", "CCTV_CAMERA_POLL_S": "0.2",
       "CCTV_TRACKER_POLL_S": "0.2", "CCTV_CLAIM_IDLE_MS": "3000"}
"""Every service's settings, on the cluster and on one Redis. One frame per batch: a frame's
detections then do not depend on the frames it was batched with, so counts compare exactly."""


def write_clip(source: Path, path: Path, frames: int, fps: float) -> Path:
    """The first ``frames`` frames of ``source`` at 320 px wide, ``fps`` frames per second."""
    capture = cv2.VideoCapture(str(source))
    writer = None
    for _ in range(frames):
        ok, image = capture.read()
        assert ok, "the sample video is too short"
        image = cv2.resize(image, (320, 320 * image.shape[0] // image.shape[1]))
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                     (image.shape[1], image.shape[0]))
        writer.write(image)
    writer.release()
    capture.release()
    return path


def wait_until(predicate, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (redis.RedisError, redis.exceptions.RedisClusterException):
            pass
        time.sleep(0.2)
    return False


def number(client, key: str, field: str) -> int:
    return int(client.hget(key, field) or 0)


def text_hash(client, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(key).items()}


def seqs(client, keys, camera: str) -> list[int]:
    """The ``seq`` of every detection message of ``camera``, in stream order."""
    return [DetectionMessage.from_fields(f).seq for _, f in client.xrange(keys.detections(camera))]


def spread(cluster, keys, prefix: str) -> list[str]:
    """Eight camera names whose keys land on every master (two at least on each)."""
    names, per_master = [], {}
    i = 0
    while len(names) < 8:
        name = f"{prefix}{i}"
        port = cluster.master_for(keys.frames(name)).port
        if per_master.get(port, 0) < 3:
            per_master[port] = per_master.get(port, 0) + 1
            names.append(name)
        i += 1
    assert len(per_master) == 3 and min(per_master.values()) >= 2, per_master
    return names


class Services:
    """ingest, w1, w2 and the tracker on ``url``, their stderr in ``folder``."""

    NAMES = ("ingest", "w1", "w2", "tracker")

    def __init__(self, url: str, folder: Path):
        env = dict(os.environ, REDIS_URL=url, **ENV)
        env.pop("CCTV_HASH_TAGS", None)
        self.logs = {n: open(folder / f"{n}.log", "w+") for n in self.NAMES}
        commands = {"ingest": ["ingest"], "w1": ["worker", "--worker-id", "w1"],
                    "w2": ["worker", "--worker-id", "w2"], "tracker": ["tracker"]}
        self.procs = {n: subprocess.Popen([sys.executable, "-m", "cctv", *commands[n]], env=env,
                                          stdin=subprocess.DEVNULL, stdout=self.logs[n],
                                          stderr=subprocess.STDOUT)
                      for n in self.NAMES}

    def running(self) -> dict[str, int | None]:
        return {n: p.poll() for n, p in self.procs.items()}

    def stop(self) -> None:
        stop_all(self.procs.values())
        for name, log in self.logs.items():
            log.seek(0)
            print(f"--- {name} ---\n{log.read()[-4000:]}")
            log.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory, sample_video) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {"short": write_clip(sample_video, folder / "short.mp4", FRAMES, 20.0),
            "live": write_clip(sample_video, folder / "live.mp4", LIVE_FRAMES, 10.0)}


@pytest.fixture(scope="module")
def services(redis_cluster, tmp_path_factory):
    """The services on the cluster, from an empty cluster, for the whole module."""
    redis_cluster.wait_ok(WAIT_S)
    client = redis_cluster.client()
    client.flushall()
    running = Services(redis_cluster.url, tmp_path_factory.mktemp("logs"))
    try:
        yield running
    finally:
        running.stop()
        client.close()


def one_redis_run(url: str, client: redis.Redis, cameras: list[CameraConfig]) -> None:
    """The same cameras through ingest, two workers and a tracker on one Redis, in threads."""
    from detector import load_detector
    from ingest.service import IngestService
    from tracking.service import Tracker
    from workers.service import Worker

    environ = dict(ENV, REDIS_URL=url)
    worker_settings = from_env(WorkerSettings, environ)
    detector = load_detector(worker_settings.detector, "cpu", worker_settings.publish_floor,
                             worker_settings.classes, 1, precision=worker_settings.precision)
    keys = worker_settings.keys
    for camera in cameras:
        store_camera(client, keys, camera)
    services = [IngestService(client, from_env(IngestSettings, environ), []),
                *(Worker(client, worker_settings.model_copy(update={"worker_id": w}), detector)
                  for w in ("w1", "w2")),
                Tracker(client, from_env(TrackerSettings, environ))]
    stop = threading.Event()
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in services]
    for thread in threads:
        thread.start()
    try:
        assert wait_until(lambda: all(
            number(client, keys.track_stats(c.name), "frames_tracked") == FRAMES
            for c in cameras), 240), "one Redis: the replay did not finish"
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)


@pytest.mark.timeout(600)
def test_eight_cameras_on_a_cluster_count_as_on_one_redis(redis_cluster, services, clips,
                                                          redis_client, redis_url):
    client = redis_cluster.client()
    keys = from_env(WorkerSettings, {"REDIS_URL": redis_cluster.url}).keys
    names = spread(redis_cluster, keys, "cam")
    cameras = [CameraConfig(name=n, url=str(clips["short"]), realtime=False) for n in names]
    one_redis_run(redis_url, redis_client, cameras)  # meanwhile the services start
    single = from_env(WorkerSettings, {"REDIS_URL": redis_url}).keys
    assert wait_until(lambda: client.scard(keys.workers) == 2, 240), services.running()
    for camera in cameras:
        store_camera(client, keys, camera)
    assert wait_until(lambda: all(number(client, keys.track_stats(n), "frames_tracked") == FRAMES
                                  for n in names), 240), services.running()
    for name in names:
        assert number(client, keys.state(name), "frames_in") == FRAMES
        assert number(client, keys.stats(name), "frames_processed") == FRAMES
        assert sorted(seqs(client, keys, name)) == list(range(FRAMES))  # each frame once
        assert client.xpending(keys.frames(name), GROUP)["pending"] == 0
        on_cluster = text_hash(client, keys.track_stats(name))
        on_one = text_hash(redis_client, single.track_stats(name))
        assert on_cluster == on_one, name
    detections = sum(number(client, keys.track_stats(n), "det:person") for n in names)
    assert detections > 0  # the clip has people: the comparison is not of zeros
    assert services.running() == dict.fromkeys(Services.NAMES)


@pytest.mark.timeout(600)
def test_a_master_killed_mid_replay_is_replaced_and_the_replays_finish(redis_cluster, services,
                                                                       clips):
    client = redis_cluster.client()
    keys = from_env(WorkerSettings, {"REDIS_URL": redis_cluster.url}).keys
    names = spread(redis_cluster, keys, "live")
    victim = redis_cluster.master_for(keys.frames(names[0]))
    hit = [n for n in names if redis_cluster.master_for(keys.frames(n)).port == victim.port]
    for name in names:
        store_camera(client, keys, CameraConfig(name=name, url=str(clips["live"]),
                                                realtime=True))
    assert wait_until(lambda: number(client, keys.state(names[0]), "frames_in")
                      >= LIVE_FRAMES // 5, 120), services.running()
    taken = {n: number(client, keys.state(n), "frames_in") for n in hit}
    started = time.monotonic()
    redis_cluster.kill(victim)
    redis_cluster.wait_failover(victim, WAIT_S)
    print(f"master {victim.address} killed: replica promoted after "
          f"{time.monotonic() - started:.1f}s; its cameras: {hit}")
    client.close()
    client = redis_cluster.client()

    def finished() -> bool:
        """Ingest done, no frame pending, the tracker at the last frame with detections."""
        for n in names:
            frame_ids = [DetectionMessage.from_fields(f).frame_id
                         for _, f in client.xrange(keys.detections(n))]
            tracked = client.hget(keys.tracker_state(n), "frame_id")
            if client.hget(keys.state(n), "state") != b"finished" \
                    or client.xpending(keys.frames(n), GROUP)["pending"] or not frame_ids \
                    or tracked is None or tracked.decode() != max(frame_ids, key=order_key):
                return False
        return True
    assert wait_until(finished, 240), services.running()
    report = {}
    for name in names:
        got = seqs(client, keys, name)
        report[name] = {"lost": LIVE_FRAMES - len(set(got)),
                        "twice": len(got) - len(set(got)),
                        "frames_in": number(client, keys.state(name), "frames_in"),
                        "frames_processed": number(client, keys.stats(name), "frames_processed"),
                        "frames_tracked": number(client, keys.track_stats(name),
                                                 "frames_tracked")}
    print("after the failover (lost and twice: of the frames' detections):",
          json.dumps(report, indent=1))
    for name in set(names) - set(hit):  # their masters stayed up: exact
        # a live camera (a realtime file stands in for one) drops what comes while the cluster
        # is down, and counts it: none lost silently, none twice, every frame taken processed
        dropped = number(client, keys.state(name), "frames_dropped")
        assert report[name]["lost"] == dropped and report[name]["twice"] == 0, \
            (name, report[name], dropped)
        assert report[name]["frames_processed"] == report[name]["frames_in"] \
            == LIVE_FRAMES - dropped, (name, report[name])
    for name in hit:
        assert max(seqs(client, keys, name)) >= taken[name] + 10, (name, taken)  # carried on
    assert services.running() == dict.fromkeys(Services.NAMES)


@pytest.mark.timeout(600)
def test_a_node_restarted_empty_rejoins_and_nothing_crashes(redis_cluster, services, clips):
    dead = [node for node in redis_cluster.nodes if not node.alive()]
    assert dead, "run with the failover test before it"
    for node in dead:
        redis_cluster.restart(node, empty=True, timeout=WAIT_S)
    redis_cluster.wait_ok(WAIT_S)
    client = redis_cluster.client()
    keys = from_env(WorkerSettings, {"REDIS_URL": redis_cluster.url}).keys
    name = spread(redis_cluster, keys, "after")[0]
    store_camera(client, keys, CameraConfig(name=name, url=str(clips["short"]), realtime=False))
    assert wait_until(lambda: number(client, keys.track_stats(name), "frames_tracked")
                      == FRAMES, 120), (services.running(), text_hash(client, keys.state(name)),
                                        text_hash(client, keys.stats(name)),
                                        text_hash(client, keys.track_stats(name)))
    assert services.running() == dict.fromkeys(Services.NAMES)
    status = subprocess.run([sys.executable, "-m", "cctv", "status", "--json"],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, REDIS_URL=redis_cluster.url))
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    print("redis losses:", report["redis_losses"])
    assert report["cameras"][name]["frames_processed"] == FRAMES
    assert {"worker w1", "worker w2"} & set(report["redis_losses"])  # the failover, as seen
    print("redis cluster:", report["redis_cluster"])
    masters = [n for n in report["redis_cluster"] if n["role"] == "master" and n["slots"]]
    assert len(masters) == 3 and {n["state"] for n in masters} == {"ok"}
    assert sum(n["slots"] for n in masters) == 16384
    readers_on_a_cluster(redis_cluster, client, keys, name)


def readers_on_a_cluster(redis_cluster, client, keys, name: str) -> None:
    """The dashboard's tables, its REST API and live JPEG read the cluster."""
    import urllib.request

    from running import dashboard

    from dashboard.data import minute_tables

    classes, _ = minute_tables(client, keys, [name])
    if number(client, keys.track_stats(name), "det:person"):
        assert set(classes["camera"]) == {name}, classes
    with dashboard({"REDIS_URL": redis_cluster.url}) as base:
        status = json.load(urllib.request.urlopen(f"{base}/api/status", timeout=30))
        assert status["cameras"][name]["frames_processed"] == FRAMES
        cameras = json.load(urllib.request.urlopen(f"{base}/api/cameras", timeout=30))
        assert name in json.dumps(cameras)
        jpeg = urllib.request.urlopen(f"{base}/cameras/{name}/latest.jpg", timeout=30).read()
        assert jpeg[:2] == b"\xff\xd8"


@pytest.mark.timeout(600)
def test_replays_run_on_the_cluster_with_their_queue_on_a_standalone_redis(
        redis_cluster, services, clips, redis_url, tmp_path):
    """RQ on the session's single Redis (``CCTV_QUEUE_URL``), the frames on the cluster; without
    ``CCTV_QUEUE_URL`` a replay is refused in one line."""
    env = dict(os.environ, REDIS_URL=redis_cluster.url, **ENV)
    replay = [sys.executable, "-m", "cctv", "replay", str(clips["short"]), "--camera", "replayed"]
    refused = subprocess.run(replay, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "CCTV_QUEUE_URL" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    env["CCTV_QUEUE_URL"] = redis_url
    log = open(tmp_path / "rq.log", "w+")
    rq = subprocess.Popen([sys.executable, "-m", "cctv", "rq-worker"], env=env,
                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        done = subprocess.run([*replay, "--wait", "--timeout", "240"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (done.stdout, done.stderr)
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["processed"] and summary["result"]["frames"] == FRAMES, summary
    finally:
        rq.terminate()
        rq.wait(30)
        log.seek(0)
        print(f"--- rq-worker ---\n{log.read()[-3000:]}")
        log.close()
    client = redis_cluster.client()
    keys = from_env(WorkerSettings, {"REDIS_URL": redis_cluster.url}).keys
    assert number(client, keys.stats("replayed"), "frames_processed") == FRAMES
