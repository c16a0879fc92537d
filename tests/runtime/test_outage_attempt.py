"""Outage.attempt: one try of a loop, a Redis failure waited out, the next success ends it."""

from __future__ import annotations

import logging
import threading

import pytest
import redis

from common.keys import KEYS
from runtime.outage import Outage, read_losses


def test_a_failed_try_waits_and_the_next_success_records_the_loss(redis_client):
    outage = Outage(redis_client, KEYS, "live", logging.getLogger("cctv.test"),
                    initial_s=0.01, max_s=0.02)
    stop = threading.Event()
    with outage.attempt(stop):
        raise redis.ConnectionError("Error 111")
    assert outage.since is not None
    with outage.attempt(stop):
        pass
    assert outage.since is None and "live" in read_losses(redis_client, KEYS)


def test_other_errors_go_through(redis_client):
    outage = Outage(redis_client, KEYS, "live", logging.getLogger("cctv.test"))
    with pytest.raises(ValueError):
        with outage.attempt(threading.Event()):
            raise ValueError("a bad entry")
    assert outage.since is None
