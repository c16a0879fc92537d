"""A local Redis Sentinel set-up for tests: one primary, ``replicas`` replicas and
``sentinels`` sentinels (quorum: a majority), all from the same ``redis-server`` binary
(``--sentinel`` with a ``sentinel.conf``), on free loopback ports, one folder per process.

``url`` is the ``redis+sentinel://host:port,.../SERVICE`` that ``runtime.redis_conn.connect``
follows through redis-py's ``Sentinel.master_for``. ``kill_primary`` (SIGKILL) and
``wait_promoted`` are there for failover tests. Imported by tests as ``sentinel`` (pytest puts
this folder on sys.path for tests/conftest.py).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from runtime.redis_conn import redis_server_binary, stop_servers

SERVICE = "cctv"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SentinelError(RuntimeError):
    """The set-up did not start, or did not reach the state waited for in time."""


class LocalSentinel:
    """Primary + replicas + sentinels under ``folder``; see the module doc."""

    def __init__(self, folder: Path, replicas: int = 1, sentinels: int = 3,
                 down_after_ms: int = 2000, failover_timeout_ms: int = 10_000,
                 host: str = "127.0.0.1", service: str = SERVICE):
        self.folder, self.host, self.service = Path(folder), host, service
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        ports: list[int] = []
        while len(ports) < 1 + replicas + sentinels:
            port = _free_port(host)
            if port not in ports:
                ports.append(port)
        self.data_ports, self.sentinel_ports = ports[:1 + replicas], ports[1 + replicas:]
        self.procs: dict[int, subprocess.Popen] = {}
        self.primary_port = self.data_ports[0]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{self.host}:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}"

    def client(self, port: int, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(self.host, port, socket_connect_timeout=timeout,
                           socket_timeout=timeout, decode_responses=True)

    # -- processes -------------------------------------------------------------------------------
    def _spawn(self, port: int, extra: list[str], conf: str | None = None) -> None:
        folder = self.folder / str(port)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        args = [str(redis_server_binary())]
        if conf is not None:  # a sentinel rewrites its config file: it must be its own
            (folder / "sentinel.conf").write_text(conf)
            args += [str(folder / "sentinel.conf"), "--sentinel"]
        args += ["--bind", self.host, "--port", str(port), "--dir", str(folder.resolve()),
                 "--daemonize", "no", "--logfile", "redis.log", "--save", "",
                 "--appendonly", "no"] + extra
        self.procs[port] = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, start_new_session=True)

    def _answers(self, port: int) -> bool:
        try:
            with self.client(port) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def start(self, timeout: float = 60.0) -> "LocalSentinel":
        """Start the primary, its replicas (in sync) and the sentinels (each seeing the others and
        every replica); every process stopped on failure."""
        deadline = time.monotonic() + timeout
        quorum = len(self.sentinel_ports) // 2 + 1
        conf = (f"sentinel monitor {self.service} {self.host} {self.primary_port} {quorum}\n"
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.service} 1\n")
        try:
            self._spawn(self.primary_port, [])
            for port in self.data_ports[1:]:
                self._spawn(port, ["--replicaof", self.host, str(self.primary_port)])
            self._wait(lambda: all(self._answers(p) for p in self.data_ports), deadline,
                       "the primary and replicas to answer")
            self._wait(self._replicas_in_sync, deadline, "the replicas to sync")
            for port in self.sentinel_ports:
                self._spawn(port, [], conf)
            self._wait(self._sentinels_ready, deadline,
                       "the sentinels to see each other and the replicas")
        except BaseException:
            self.stop()
            raise
        return self

    def _replicas_in_sync(self) -> bool:
        with self.client(self.primary_port) as client:
            info = client.info("replication")
        return int(info.get("connected_slaves", 0)) == len(self.data_ports) - 1

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with self.client(port) as client:
                    master = client.execute_command("SENTINEL MASTER", self.service)
            except (redis.RedisError, OSError):
                return False
            if isinstance(master, list):
                master = dict(zip(master[::2], master[1::2]))
            if (int(master.get("num-other-sentinels", 0)) < len(self.sentinel_ports) - 1
                    or int(master.get("num-slaves", 0)) < len(self.data_ports) - 1):
                return False
        return True

    def stop(self) -> None:
        """Stop every process still running (SIGTERM, SIGKILL after 10 s)."""
        stop_servers(self.procs.values())
        self.procs.clear()

    def __enter__(self) -> "LocalSentinel":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- failover --------------------------------------------------------------------------------
    def primary(self) -> tuple[str, int] | None:
        """The primary's address as the first answering sentinel names it."""
        for port in self.sentinel_ports:
            try:
                with self.client(port) as client:
                    host, master_port = client.execute_command(
                        "SENTINEL GET-MASTER-ADDR-BY-NAME", self.service)
                return host, int(master_port)
            except (redis.RedisError, OSError, TypeError, ValueError):
                continue
        return None

    def kill_primary(self) -> int:
        """SIGKILL the current primary; returns its port."""
        port = self.primary_port
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait()
        return port

    def wait_promoted(self, timeout: float = 60.0) -> int:
        """Wait until the sentinels name a new primary and it answers as a master; returns its
        port."""
        old = self.primary_port

        def promoted() -> bool:
            addr = self.primary()
            if addr is None or addr[1] == old:
                return False
            try:
                with self.client(addr[1]) as client:
                    return client.info("replication")["role"] == "master"
            except (redis.RedisError, OSError):
                return False

        self._wait(promoted, time.monotonic() + timeout, "a replica to be promoted")
        self.primary_port = self.primary()[1]
        return self.primary_port

    @staticmethod
    def _wait(predicate, deadline: float, what: str) -> None:
        while not predicate():
            if time.monotonic() > deadline:
                raise SentinelError(f"timed out waiting for {what}")
            time.sleep(0.1)
