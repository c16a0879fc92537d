"""Fixtures of the security tests: everything a Redis client could read, as one list."""

from __future__ import annotations

import pytest
import redis


def redis_dump(client: redis.Redis) -> list[bytes]:
    """Every key and every value (hash fields, stream fields, set and list members) in Redis."""
    out: list[bytes] = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            out.append(client.get(key))
        elif kind == "hash":
            out += [x for item in client.hgetall(key).items() for x in item]
        elif kind == "stream":
            out += [x for _, fields in client.xrange(key) for item in fields.items()
                    for x in item]
        elif kind == "set":
            out += list(client.smembers(key))
        elif kind == "list":
            out += client.lrange(key, 0, -1)
        elif kind == "zset":
            out += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
    return out


@pytest.fixture
def dump_redis():
    """:func:`redis_dump`, for tests to call after the work they check."""
    return redis_dump
