"""Names read from Redis that are not UTF-8 (anyone can write them) never raise in the readers
that run every pass: the camera list, the events index, open events, Redis losses, the workers'
lag limits."""

from __future__ import annotations

from common.keys import KEYS
from runtime.camera_list import camera_names
from runtime.event_store import Query, query_events
from runtime.outage import read_losses
from tracking.events import open_events
from workers.batcher import Batcher

JUNK = b"\xff\xfe"


def test_readers_of_names_take_junk_bytes(redis_client):
    redis_client.hset(KEYS.cameras, JUNK, "{}")
    redis_client.zadd(KEYS.events_time, {JUNK: 1.0})
    redis_client.sadd(KEYS.open_events("lobby"), JUNK)
    redis_client.hset(KEYS.redis_losses, JUNK, "{}")
    assert camera_names(redis_client, KEYS) == ["\ufffd\ufffd"]
    assert query_events(redis_client, KEYS, Query())[0] == []  # no record behind the id
    assert open_events(redis_client, KEYS, "lobby") == []
    assert read_losses(redis_client, KEYS) == {}
    batcher = Batcher(redis_client, KEYS, "w1", 4, 10, 1000)
    batcher.refresh_lag_limits()
    assert batcher.lag_limits == {}
