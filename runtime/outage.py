"""Riding out a Redis outage, the policy every service loop follows.

Which errors mean "Redis is away" (:data:`REDIS_DOWN`: refused or dropped connections, timeouts,
a server still loading its AOF), the wait between tries (doubling from ``initial_s`` up to
``max_s``, each wait jittered to 50-100% so that many processes do not come back in step), one
log line when Redis goes and one when it is back, and the record of the last loss in
``cctv:redis-losses`` that ``cctv status`` shows. A loop calls :meth:`Outage.failed` on such an
error (it waits) and :meth:`Outage.back` after its next success, or runs each try in
:meth:`Outage.attempt`, which does both.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import redis

from common.fields import MessageError, text
from common.keys import Keys
from common.records import RedisLoss

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError,
              redis.exceptions.RedisClusterException)
"""Errors after which the same command may succeed later (BusyLoadingError is one; on a cluster,
``CLUSTERDOWN``, a slot not covered while a replica takes over, no node reachable)."""

REDIS_FAILED = (*REDIS_DOWN, redis.ResponseError)
"""What a service loop waits out rather than exit on: Redis away, or refusing a command (``OOM``
under ``noeviction``, a read-only replica, a key an operator replaced with another type)."""

WRONG_TYPE = "WRONGTYPE"
"""How Redis starts its reply to a command on a key that holds another type."""

LOSS_KEEP_S = 7 * 86_400
"""Records of services that lost Redis longer ago than this are dropped."""


def backoff(initial_s: float, max_s: float,
            rng: Callable[[], float] = random.random) -> Iterator[float]:
    """Waits between tries: ``initial_s``, doubling up to ``max_s``, each one 50-100% of that."""
    step = initial_s
    while True:
        yield step * (0.5 + rng() / 2)
        step = min(step * 2, max_s)


def is_wrong_type(exc: BaseException) -> bool:
    """A command refused because one key holds another type (an operator's ``SET`` over a
    stream): a fault of whatever owns that key, not a Redis outage. (redis-py prefixes the
    reply in a pipeline: "Command # 1 (XADD ...) of pipeline caused error: WRONGTYPE ...".)"""
    text = str(exc)
    return isinstance(exc, redis.ResponseError) \
        and (text.startswith(WRONG_TYPE) or f"caused error: {WRONG_TYPE}" in text)


def wrong_type_keys(client: redis.Redis, expected: dict[str, str]) -> list[str]:
    """Of ``expected`` (key -> Redis type), each key holding another type, described as
    "key cctv:frames:lobby is not a stream (it holds a string)" (a missing key is fine)."""
    pipe = client.pipeline(transaction=False)
    for key in expected:
        pipe.type(key)
    found = []
    for (key, want), got in zip(expected.items(), pipe.execute()):
        got = got.decode() if isinstance(got, bytes) else str(got)
        if got not in (want, "none"):
            found.append(f"key {key} is not a {want} (it holds a {got})")
    return found


class Outage:
    """One service's view of Redis, shared by its threads."""

    def __init__(self, client: redis.Redis, keys: Keys, service: str, log: logging.Logger,
                 initial_s: float = 0.5, max_s: float = 10.0):
        self.client, self.keys, self.service, self.log = client, keys, service, log
        self.initial_s, self.max_s = initial_s, max_s
        self.since: float | None = None  # when Redis was lost (Unix seconds); None = reachable
        self._waits: Iterator[float] = iter(())
        self._lock = threading.Lock()

    def note(self, exc: Exception) -> float:
        """Log the first failure of an outage; returns how long to wait before the next try."""
        with self._lock:
            if self.since is None:
                self.since = time.time()
                self._waits = backoff(self.initial_s, self.max_s)
                what = "refused a command" if isinstance(exc, redis.ResponseError) \
                    else "unreachable"
                self.log.warning("%s: Redis %s (%s); retrying with backoff up to %.0fs",
                                 self.service, what, exc, self.max_s)
            return next(self._waits)

    def failed(self, exc: Exception, stop: threading.Event) -> bool:
        """:meth:`note`, then wait; False once ``stop`` is set."""
        return not stop.wait(self.note(exc))

    def back(self) -> bool:
        """Call after a command succeeded; True (once) when that ends an outage, which is then
        logged and recorded."""
        if self.since is None:
            return False
        with self._lock:
            since, self.since = self.since, None
        if since is None:
            return False
        now = time.time()
        self.log.warning("%s: Redis is back after %.1fs", self.service, now - since)
        try:
            record_loss(self.client, self.keys, RedisLoss(self.service, since, now))
        except REDIS_DOWN:
            pass  # gone again: the next outage is recorded instead
        return True

    @contextmanager
    def attempt(self, stop: threading.Event) -> Iterator[None]:
        """One try of a loop's work: :meth:`back` once it succeeded; on :data:`REDIS_FAILED`,
        :meth:`failed` (the wait before the next try, cut short by ``stop``) instead of raising."""
        try:
            yield
            self.back()
        except REDIS_FAILED as exc:
            self.failed(exc, stop)


def record_loss(client: redis.Redis, keys: Keys, loss: RedisLoss) -> None:
    """Store a service's last outage; forget services whose last loss is over a week old."""
    client.hset(keys.redis_losses, loss.service, loss.to_json())
    stale = [service for service, old in read_losses(client, keys).items()
             if old.lost < loss.lost - LOSS_KEEP_S]
    if stale:
        client.hdel(keys.redis_losses, *stale)


def read_losses(client: redis.Redis, keys: Keys) -> dict[str, RedisLoss]:
    """The last Redis outage of every service that had one (unreadable records are skipped)."""
    losses = {}
    for service, raw in client.hgetall(keys.redis_losses).items():
        try:
            losses[text(service)] = RedisLoss.from_json(text(service), raw)
        except MessageError:
            continue
    return losses
