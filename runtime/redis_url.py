"""Redis URLs: which server a URL names (single, cluster, sentinel) and whether it is well formed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
"""URL schemes of a Redis Cluster: ``redis+cluster://[user:password@]host:port[,host:port...]``."""


def is_cluster_url(url: str | None) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``)."""
    return bool(url) and urlsplit(url).scheme in CLUSTER_SCHEMES


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The startup nodes ``(host, port)`` of a ``redis+cluster://`` URL (port default 6379);
    ValueError on a bad one, without repeating the URL."""
    return _hosts(urlsplit(url).netloc, 6379, "cluster node", "node",
                  "redis+cluster://host1:7000,host2:7001")


def _hosts(netloc: str, default_port: int, each: str, least: str,
           example: str) -> list[tuple[str, int]]:
    """The ``host:port`` list after a URL's user info; ValueError naming ``each`` item (and
    ``least``, when none) with ``example``, never the URL itself."""
    hosts = []
    for item in netloc.rpartition("@")[2].split(","):
        try:
            parts = urlsplit(f"redis://{item.strip()}")
            port = parts.port or default_port
        except ValueError:
            raise ValueError(f"each {each} is host:port with a port from 1 to 65535 "
                             f"({example})") from None
        if not parts.hostname:
            raise ValueError(f"needs at least one {least} ({example})")
        hosts.append((parts.hostname, port))
    return hosts


SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
"""URL schemes of Redis Sentinel: ``redis+sentinel://[:password@]host:port[,host:port]/service[/db]``
(the sentinels' addresses; the primary they name is where data goes)."""


def is_sentinel_url(url: str | None) -> bool:
    """Whether ``url`` names a primary through Redis Sentinel (``redis[s]+sentinel://``)."""
    return bool(url) and urlsplit(url).scheme in SENTINEL_SCHEMES


def sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, int]:
    """The sentinels ``(host, port)`` (port default 26379), the service name and the database of a
    ``redis+sentinel://`` URL; ValueError on a bad one, without repeating the URL."""
    parts = urlsplit(url)
    sentinels = _hosts(parts.netloc, 26379, "sentinel", "sentinel",
                       "redis+sentinel://host1:26379,host2:26379/mymaster")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("needs the service name after the sentinels, then optionally a database "
                         "(redis+sentinel://host:26379/mymaster/0)")
    if len(path) == 2 and not (path[1].isdigit() and int(path[1]) < 1_000_000):
        raise ValueError("the database after the service name must be a number")
    return sentinels, path[0], int(path[1]) if len(path) == 2 else 0


def check_redis_url(url: str) -> None:
    """ValueError unless ``url`` is ``redis[s]://[user:password@]host[:port][/db]``,
    ``redis[s]+cluster://[user:password@]host:port[,host:port...]`` or ``unix:///path``; the
    message never repeats the URL (it may hold a password)."""
    parts = urlsplit(url)
    if parts.scheme in CLUSTER_SCHEMES:
        cluster_nodes(url)
        if parts.path.strip("/") not in ("", "0"):
            raise ValueError("a Redis Cluster has database 0 only")
        return
    if parts.scheme in SENTINEL_SCHEMES:
        sentinel_parts(url)
        return
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must start with redis://, rediss://, redis+cluster://, "
                         "redis+sentinel:// or unix://")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("unix:// needs the socket's path (unix:///run/redis.sock)")
        return
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("needs a host (redis://host:6379/0)")
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    db = parts.path.strip("/")
    if db and not (db.isdigit() and int(db) < 1_000_000):
        raise ValueError("the database after the host must be a number (redis://host:6379/0)")
