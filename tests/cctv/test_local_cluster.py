"""The local Redis Cluster launcher (cctv/cluster.py) on real nodes: created whole, a killed master's
replica promoted, a node restarted empty rejoins as a replica; ``scripts/cluster`` in a process."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cluster import WAIT_S, cluster_client, redis_cluster  # noqa: F401 (fixtures)

from cctv.cluster import SLOTS, LocalCluster, free_base_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_cluster_covers_every_slot_with_three_masters_and_their_replicas(redis_cluster,
                                                                             cluster_client):
    owners = redis_cluster.slot_owners()
    assert len(owners) == SLOTS
    assert len(set(owners.values())) == 3
    roles = sorted(node.role() for node in redis_cluster.nodes)
    assert roles == ["master"] * 3 + ["slave"] * 3
    for node in redis_cluster.nodes:
        info = node.info()
        assert info["cluster_state"] == "ok" and info["cluster_slots_ok"] == str(SLOTS)
        assert info["cluster_known_nodes"] == "6"
    cameras = [f"cctv:frames:{{cam{i}}}" for i in range(16)]
    for key in cameras:
        cluster_client.xadd(key, {"i": key})
    assert {redis_cluster.master_for(key).address for key in cameras} == set(owners.values())
    assert all(cluster_client.xlen(key) == 1 for key in cameras)


@pytest.mark.slow
def test_a_killed_master_is_replaced_by_its_replica_and_keeps_the_data(redis_cluster,
                                                                       cluster_client):
    key = "cctv:frames:{lobby}"
    cluster_client.xadd(key, {"n": "1"})
    master = redis_cluster.master_for(key)
    with master.client() as direct:
        direct.execute_command("WAIT", 1, 10_000)  # the replica has the entry before the kill
    redis_cluster.kill(master)
    redis_cluster.wait_failover(master, WAIT_S)
    promoted = redis_cluster.master_for(key)
    assert promoted is not master and promoted.role() == "master"
    client = redis_cluster.client()
    try:
        assert client.xlen(key) == 1
        client.xadd(key, {"n": "2"})
        assert client.xlen(key) == 2
    finally:
        client.close()


@pytest.mark.slow
def test_a_node_restarted_with_or_without_its_data_rejoins_as_a_replica(redis_cluster,
                                                                        cluster_client):
    for empty, wait in ((False, True), (True, True), (True, False)):
        master = redis_cluster.master_for("cctv:state:{gate}")
        redis_cluster.kill(master)
        if wait:  # else restart() waits for the failover itself
            redis_cluster.wait_failover(master, WAIT_S)
        redis_cluster.restart(master, empty=empty, timeout=WAIT_S)
        redis_cluster.wait_ok(WAIT_S)
        assert master.role() == "slave"
        assert master.info()["cluster_known_nodes"] == "6"
    roles = sorted(node.role() for node in redis_cluster.nodes)
    assert roles == ["master"] * 3 + ["slave"] * 3


@pytest.mark.slow
def test_scripts_cluster_runs_until_stopped_and_prints_the_url(tmp_path):
    base = free_base_port(6)
    proc = subprocess.Popen([str(ROOT / "scripts" / "cluster"), "--port", str(base), "--dir",
                             str(tmp_path), "--node-timeout-ms", "2000"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline().strip()
        nodes = ",".join(f"127.0.0.1:{base + i}" for i in range(6))
        assert line == f"REDIS_URL=redis+cluster://{nodes}"
        probe = LocalCluster(tmp_path, base_port=base)
        for node in probe.nodes:  # the launcher's processes: mark them alive for the checks
            node.proc = _Alive()
        assert probe.whole()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    assert not any(_answers(base + i) for i in range(6)), "a node outlived scripts/cluster"


class _Alive:
    """Stands for a process this test did not start (``Node.alive`` polls it)."""

    @staticmethod
    def poll():
        return None


def _answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis("127.0.0.1", port, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def test_a_bad_layout_or_a_port_in_use_is_one_clear_error(tmp_path):
    import socket

    from cctv.cluster import ClusterError

    with pytest.raises(ValueError, match="at least 3 masters"):
        LocalCluster(tmp_path, masters=2)
    base = free_base_port(6)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))
        with pytest.raises(ClusterError, match="in use"):
            LocalCluster(tmp_path, base_port=base).start()


@pytest.mark.slow
def test_cctv_up_with_cluster_runs_the_services_on_a_local_cluster(tmp_path, monkeypatch):
    """``cctv up --cluster 3``: six nodes under run_dir/cluster, the sample camera stored in the
    cluster, the children get REDIS_URL=redis+cluster://..., hash tags and the embedded Redis as
    CCTV_QUEUE_URL; all of it stopped on exit. The services are stand-ins that write the
    environment they got (the real ones on a cluster are tested with the services)."""
    import json
    import sys

    from running import free_port

    from cctv import up as up_module
    from runtime.camera_list import list_cameras
    from runtime.redis_conn import connect
    from runtime.settings import CommonSettings

    seen = tmp_path / "env.json"
    script = ("import json, os, sys, time; json.dump({k: os.environ.get(k) for k in "
              "('REDIS_URL', 'CCTV_QUEUE_URL', 'CCTV_HASH_TAGS')}, open(sys.argv[2], 'w')); "
              "time.sleep(600)")
    monkeypatch.setattr(up_module, "child_commands", lambda *a, **k: [
        [sys.executable, "-c", script, "ingest", str(seen)]])
    base = free_base_port(6)
    monkeypatch.setattr(up_module, "CLUSTER_PORT", base)
    monkeypatch.delenv("REDIS_URL", raising=False)
    settings = CommonSettings(run_dir=tmp_path / "run", embedded_port=free_port())
    stop = threading.Event()
    result = []
    thread = threading.Thread(target=lambda: result.append(up_module.up(
        settings, stop, workers=1, dashboard=False, cluster=3)))
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not (seen.exists() and seen.read_text().endswith("}")):
            assert thread.is_alive() and time.monotonic() < deadline, "cctv up did not start"
            time.sleep(0.1)
        env = json.loads(seen.read_text())
        nodes = ",".join(f"127.0.0.1:{base + i}" for i in range(6))
        assert env == {"REDIS_URL": f"redis+cluster://{nodes}",
                       "CCTV_QUEUE_URL": f"redis://127.0.0.1:{settings.embedded_port}/0",
                       "CCTV_HASH_TAGS": "true"}
        on_cluster = CommonSettings(redis_url=env["REDIS_URL"])
        client = connect(on_cluster)
        try:
            assert list(list_cameras(client, on_cluster.keys)) == ["bikes"]
        finally:
            client.close()
        assert (tmp_path / "run" / "cluster" / str(base) / "nodes.conf").exists()
    finally:
        stop.set()
        thread.join(60)
    assert result == [0]
    assert not any(_answers(base + i) for i in range(6)), "a node outlived cctv up"
    assert not _answers(settings.embedded_port), "the queue's Redis outlived cctv up"


def test_cctv_up_with_cluster_ports_in_use_is_one_error_and_leaves_nothing_running(tmp_path,
                                                                                  monkeypatch):
    import socket

    from running import free_port

    from cctv import up as up_module
    from common.schema import SettingsError
    from runtime.settings import CommonSettings

    base = free_base_port(6)
    monkeypatch.setattr(up_module, "CLUSTER_PORT", base)
    monkeypatch.delenv("REDIS_URL", raising=False)
    settings = CommonSettings(run_dir=tmp_path, embedded_port=free_port())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 3))
        with pytest.raises(SettingsError, match="--cluster: ports .* in use"):
            up_module.up(settings, threading.Event(), dashboard=False, cluster=3)
    assert not _answers(settings.embedded_port), "the queue's Redis was left running"
    with pytest.raises(SettingsError, match="unset REDIS_URL"):
        up_module.up(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}),
                     threading.Event(), cluster=3)
