"""Services' Redis code on a real 6-node Redis Cluster (``tests/cluster.py``): the connection from
``redis+cluster://``, reads of camera streams spread over the three masters, the worker's scripts
(EVAL in the cluster pipeline), dead letters per camera with their index, the tracker's fenced
MULTI of scripts, and the replay queue refused without ``CCTV_QUEUE_URL``. Settings and the
dead-letter readers are also checked on one Redis."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import redis
from cluster import cluster_client, redis_cluster  # noqa: F401 (fixtures)
from redis.cluster import RedisCluster, key_slot
from redis.exceptions import RedisClusterException

from common.keys import GROUP, KEYS, Keys
from common.messages import FrameMessage
from common.records import DeadLetter, count_dead_letters, read_dead_letters
from common.schema import SettingsError
from runtime.redis_conn import (
    LuaScript,
    connect,
    connect_queue,
    is_cluster,
    read_streams,
    redis_address,
)
from runtime.redis_url import cluster_nodes
from runtime.settings import CommonSettings, from_env
from tracking.settings import TrackerSettings
from workers.service import Worker
from workers.settings import WorkerSettings

CAMERAS = [f"cam{i}" for i in range(8)]
TAGGED = Keys(hash_tags=True)


class NoObjects:
    """A detector that finds nothing (the worker's Redis side is what is tested)."""

    def __init__(self):
        self.batches: list[int] = []

    def detect(self, frames):
        self.batches.append(len(frames))
        return [[] for _ in frames]


def frame_fields(camera: str, seq: int) -> dict:
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), seq % 250, np.uint8))
    return FrameMessage(camera, seq, time.time(), 64, 48, data.tobytes()).to_fields()


def settings_of(cluster, **more) -> dict:
    return {"REDIS_URL": cluster.url, **more}


# -- settings (no cluster needed) -----------------------------------------------------------------
def test_a_cluster_url_forces_hash_tags_and_refuses_them_off():
    url = "redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001"
    settings = from_env(CommonSettings, {"REDIS_URL": url})
    assert settings.cluster and settings.keys.hash_tags
    assert cluster_nodes(url) == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert redis_address(settings) == "redis+cluster://10.0.0.1:7000,10.0.0.2:7001"
    flag = from_env(CommonSettings, {"REDIS_URL": "redis://10.0.0.1:7000",
                                     "CCTV_REDIS_CLUSTER": "true"})
    assert flag.cluster and flag.keys.hash_tags
    with pytest.raises(SettingsError) as refused:
        from_env(CommonSettings, {"REDIS_URL": url, "CCTV_HASH_TAGS": "false"})
    assert str(refused.value).count("\n") == 0 and "CCTV_HASH_TAGS" in str(refused.value)
    assert "s3cret" not in str(refused.value)
    for bad in ("redis+cluster://:s3cret@h:x", "redis+cluster://:s3cret@h:7000/3"):
        with pytest.raises(SettingsError) as refused:
            from_env(CommonSettings, {"REDIS_URL": bad})
        assert "s3cret" not in str(refused.value)
    with pytest.raises(SettingsError):
        from_env(CommonSettings, {"CCTV_REDIS_CLUSTER": "true"})  # the embedded server: no
    assert not from_env(CommonSettings, {"REDIS_URL": "redis://h:1/0"}).keys.hash_tags


def test_replays_need_a_standalone_queue_on_a_cluster():
    settings = from_env(CommonSettings, {"REDIS_URL": "redis+cluster://127.0.0.1:7000"})
    with pytest.raises(SettingsError, match="CCTV_QUEUE_URL"):
        connect_queue(settings)
    with pytest.raises(SettingsError, match="standalone"):
        from_env(CommonSettings, {"CCTV_QUEUE_URL": "redis+cluster://127.0.0.1:7000"})
    queued = from_env(CommonSettings, {"REDIS_URL": "redis+cluster://127.0.0.1:7000",
                                       "CCTV_QUEUE_URL": "redis://127.0.0.1:6390/0"})
    assert not is_cluster(connect_queue(queued))


def test_dead_letters_of_both_layouts_are_read_together(redis_client):
    """The global stream (one Redis) and per-camera streams (a cluster) count and read as one."""
    old = DeadLetter("a", "1-0", "bad jpeg", "w1", 1.0)
    new = DeadLetter("b", "2-0", "bad jpeg", "w2", 2.0)
    redis_client.xadd(KEYS.dead_letter, old.to_fields(), id="1-0")
    redis_client.sadd(KEYS.dead_letter_cameras, "b", "c")  # c: indexed, no letter yet
    redis_client.xadd(TAGGED.dead_letters("b"), new.to_fields(), id="2-0")
    assert KEYS.dead_letters("b") == KEYS.dead_letter
    assert count_dead_letters(redis_client, KEYS) == 2
    assert read_dead_letters(redis_client, KEYS) == [new, old]


# -- on the cluster -------------------------------------------------------------------------------
def test_connect_gives_a_cluster_client_and_cameras_spread_over_the_masters(redis_cluster,
                                                                           cluster_client):
    client = connect(from_env(CommonSettings, settings_of(redis_cluster)))
    assert isinstance(client, RedisCluster)
    masters = {redis_cluster.master_for(TAGGED.frames(c)).port for c in CAMERAS}
    assert len(masters) == 3, {c: key_slot(TAGGED.frames(c).encode()) for c in CAMERAS}
    client.set("x", "1")
    assert cluster_client.get("x") == b"1"


def test_read_streams_reads_every_camera_with_one_call(redis_cluster, cluster_client):
    for camera in CAMERAS:
        cluster_client.xgroup_create(TAGGED.frames(camera), GROUP, id="0", mkstream=True)
        cluster_client.xadd(TAGGED.frames(camera), {"n": camera})
    streams = {TAGGED.frames(c): ">" for c in CAMERAS}
    reply = read_streams(cluster_client, streams, 10, 100, group=(GROUP, "c1"))
    assert sorted(s.decode() for s, _ in reply) == sorted(streams)
    assert read_streams(cluster_client, streams, 10, 50, group=(GROUP, "c1")) == []
    plain = read_streams(cluster_client, dict.fromkeys(streams, "0"), 10, 0)
    assert len(plain) == 8 and all(len(entries) == 1 for _, entries in plain)
    one = TAGGED.frames("cam5")  # one slot: one blocking read on its node
    assert [s for s, _ in read_streams(cluster_client, {one: "0"}, 10, 100)] == [one.encode()]
    assert read_streams(cluster_client, {one: "$"}, 10, 100) == []


def test_worker_on_a_cluster_batches_across_cameras_publishes_once_and_dead_letters_per_camera(
        redis_cluster, cluster_client):
    settings = from_env(WorkerSettings, settings_of(redis_cluster, CCTV_BATCH_SIZE="16",
                                                    CCTV_BATCH_WAIT_MS="200"))
    client = connect(settings)
    keys = settings.keys
    for camera in CAMERAS:
        client.xgroup_create(keys.frames(camera), GROUP, id="0", mkstream=True)
        client.sadd(keys.camera_names, camera)
        for seq in range(3):
            client.xadd(keys.frames(camera), frame_fields(camera, seq))
    client.xadd(keys.frames("cam3"), {"v": "1", "camera": "cam3", "jpeg": b"nope"})
    detector = NoObjects()
    worker = Worker(client, settings, detector)
    done = 0
    deadline = time.monotonic() + 60
    while done < 25 and time.monotonic() < deadline:
        batch = worker.batcher.next_batch()
        done += len(batch)
        if batch:
            assert len({e.camera for e in batch}) > 1 or done > 16  # cameras mixed in a batch
            worker.process(batch)
    assert done == 25
    for camera in CAMERAS:
        assert int(client.hget(keys.stats(camera), "frames_processed")) == 3
        assert client.xlen(keys.detections(camera)) == 3
        assert client.xpending(keys.frames(camera), GROUP)["pending"] == 0
    worker.process([e for e in worker.batcher.reclaim()])  # nothing left to publish twice
    assert sum(client.xlen(keys.detections(c)) for c in CAMERAS) == 24
    assert client.smembers(keys.dead_letter_cameras) == {b"cam3"}
    assert client.xlen(keys.dead_letters("cam3")) == 1
    assert count_dead_letters(client, keys) == 1
    letter, = read_dead_letters(client, keys)
    assert (letter.camera, letter.worker) == ("cam3", worker.id)


def test_tracker_store_writes_a_camera_in_one_transaction_on_its_node(redis_cluster,
                                                                      cluster_client):
    from tracking.store import TrackStore

    settings = from_env(TrackerSettings, settings_of(redis_cluster))
    client = connect(settings)
    store = TrackStore(client, settings.keys, "t1", 5000, 100, 3600)
    assert all(store.acquire(c) for c in CAMERAS)
    assert not TrackStore(client, settings.keys, "t2", 5000, 100, 3600).acquire("cam0")
    assert store.renew(CAMERAS) == []
    script = LuaScript(client, "return redis.call('GET', KEYS[1])")
    pipe = client.pipeline(transaction=True)
    script(keys=[settings.keys.tracker_lock("cam5")], args=[], client=pipe)
    script(keys=[settings.keys.tracker_state("cam5")], args=[], client=pipe)
    assert pipe.execute() == [b"t1", None]
    store.release("cam0")
    assert client.get(settings.keys.tracker_lock("cam0")) is None
    with pytest.raises((redis.RedisError, RedisClusterException)):  # two slots: refused
        script(keys=[settings.keys.tracker_lock("cam0"), settings.keys.tracker_lock("cam1")],
               args=[])


def move_slot(cluster, key: str, target) -> None:
    """Reshard ``key``'s slot to the master ``target`` (its keys moved with ``MIGRATE``), as
    ``redis-cli --cluster reshard`` does."""
    slot = key_slot(key.encode())
    source = cluster.master_for(key)
    source_id, target_id = source.node_id(), target.node_id()
    with source.client(10) as src, target.client(10) as dst:
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        while names := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            src.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *names)
    for node in cluster.nodes:
        if node.alive() and node.role() == "master":
            with node.client(10) as client:
                client.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)


def test_a_camera_moved_to_another_master_mid_batch_is_followed(redis_cluster, cluster_client):
    """A camera's slot resharded while the worker holds frames of it read but not published:
    the results and acks follow the slot (MOVED), later reads too; every frame once. The live
    channel reaches a subscriber of the cluster client."""
    settings = from_env(WorkerSettings, settings_of(redis_cluster, CCTV_BATCH_SIZE="8"))
    client = connect(settings)
    keys = settings.keys
    live = client.pubsub()
    live.psubscribe(keys.live_pattern)
    for camera in CAMERAS:
        client.xgroup_create(keys.frames(camera), GROUP, id="0", mkstream=True)
        client.sadd(keys.camera_names, camera)
        for seq in range(4):
            client.xadd(keys.frames(camera), frame_fields(camera, seq))
    worker = Worker(client, settings, NoObjects())
    held = worker.batcher.next_batch()
    moved = held[0].camera
    source = redis_cluster.master_for(keys.frames(moved))
    target = next(n for n in redis_cluster.nodes
                  if n.alive() and n.role() == "master" and n.port != source.port)
    move_slot(redis_cluster, keys.frames(moved), target)
    assert redis_cluster.master_for(keys.frames(moved)).port == target.port
    worker.process(held)
    for seq in range(4, 6):
        client.xadd(keys.frames(moved), frame_fields(moved, seq))
    deadline = time.monotonic() + 60
    while sum(int(client.hget(keys.stats(c), "frames_processed") or 0) for c in CAMERAS) < 34 \
            and time.monotonic() < deadline:
        worker.process(worker.batcher.next_batch())
    for camera in CAMERAS:
        assert int(client.hget(keys.stats(camera), "frames_processed")) == \
            (6 if camera == moved else 4), camera
        assert client.xpending(keys.frames(camera), GROUP)["pending"] == 0
    got, deadline = None, time.monotonic() + 30
    while got is None and time.monotonic() < deadline:
        message = live.get_message(timeout=0.5)
        if message and message["type"] == "pmessage":
            got = message
    assert got is not None and got["channel"].startswith(b"cctv:live:{"), got
    live.close()


def test_the_password_of_a_cluster_url_is_used_and_never_shown(redis_cluster, cluster_client):
    """Every node with ``requirepass`` (then set back): the URL's password opens the cluster, a
    wrong one is refused by ``cctv status`` without printing it."""
    import os
    import subprocess
    import sys
    from urllib.parse import quote

    password = "s3cr@t/pw"
    nodes = [n for n in redis_cluster.nodes if n.alive()]
    for node in nodes:
        with node.client() as client:
            client.config_set("masterauth", password)
            client.config_set("requirepass", password)
    try:
        nodes_part = ",".join(n.address for n in nodes)
        url = f"redis+cluster://:{quote(password, safe='')}@{nodes_part}"
        client = connect(from_env(CommonSettings, {"REDIS_URL": url}))
        client.set("pw-check", "1")
        assert client.get("pw-check") == b"1"
        client.close()
        wrong = f"redis+cluster://:{quote('nope-' + password, safe='')}@{nodes_part}"
        status = subprocess.run([sys.executable, "-m", "cctv", "status"], capture_output=True,
                                text=True, timeout=120, env=dict(os.environ, REDIS_URL=wrong))
        assert status.returncode != 0
        assert "nope" not in status.stderr and quote(password, safe="") not in status.stderr
        assert password not in status.stderr, status.stderr
    finally:
        for node in nodes:
            with redis.Redis(node.host, node.port, password=password) as client:
                client.config_set("requirepass", "")
                client.config_set("masterauth", "")


def test_cctv_up_on_a_cluster_without_a_queue_starts_no_rq_worker(redis_cluster, cluster_client,
                                                                   tmp_path, monkeypatch, caplog):
    """``REDIS_URL=redis+cluster://...`` without ``CCTV_QUEUE_URL``: ``cctv up`` runs the
    services (stand-ins that note their name) but no rq-worker, and says why."""
    import sys
    import threading

    from cctv import up as up_module

    script = "import sys, time; open(sys.argv[2], 'w').write('up'); time.sleep(600)"
    monkeypatch.setattr(up_module, "child_commands", lambda *a, **k: [
        [sys.executable, "-c", script, name, str(tmp_path / name)]
        for name in ("ingest", "rq-worker")])
    started = []

    class Recorded(up_module.Child):
        def __init__(self, command, *args, **kwargs):
            started.append(command[3])
            super().__init__(command, *args, **kwargs)
    monkeypatch.setattr(up_module, "Child", Recorded)
    monkeypatch.delenv("CCTV_QUEUE_URL", raising=False)
    settings = from_env(CommonSettings, settings_of(redis_cluster))
    stop = threading.Event()
    result = []
    thread = threading.Thread(target=lambda: result.append(up_module.up(
        settings, stop, workers=1, dashboard=False)))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ingest").exists():
            assert thread.is_alive() and time.monotonic() < deadline, "cctv up did not start"
            time.sleep(0.1)
        assert started == ["ingest"]
    finally:
        stop.set()
        thread.join(60)
    assert result == [0]
    assert "without CCTV_QUEUE_URL: no rq-worker" in caplog.text
