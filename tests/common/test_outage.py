"""The outage policy: capped, jittered backoff; one line when Redis goes and one when it is back;
the last loss recorded for ``cctv status``."""

import logging
import threading

import redis

from common.keys import KEYS
from runtime.outage import Outage, backoff, read_losses
from runtime.status import collect_status


def test_backoff_doubles_is_capped_and_jittered():
    low = backoff(0.5, 4.0, rng=lambda: 0.0)
    assert [next(low) for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    high = backoff(0.5, 4.0, rng=lambda: 1.0)
    assert [next(high) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_one_line_each_way_and_the_loss_recorded(redis_client, caplog):
    log = logging.getLogger("cctv.test")
    outage = Outage(redis_client, KEYS, "worker w1", log, initial_s=0.01, max_s=0.02)
    assert not outage.back()
    for _ in range(3):
        assert outage.failed(redis.ConnectionError("Error 111"), threading.Event())
    stop = threading.Event()
    stop.set()
    assert not outage.failed(redis.TimeoutError("slow"), stop)
    assert outage.back() and not outage.back()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("worker w1: Redis unreachable (Error 111)")
    assert lines[1].startswith("worker w1: Redis is back after") and len(lines) == 2
    loss = read_losses(redis_client, KEYS)["worker w1"]
    assert 0 < loss.back - loss.lost < 5
    status = collect_status(redis_client, KEYS).to_dict()["redis_losses"]
    assert status == {"worker w1": {"lost": loss.lost, "back": loss.back}}
