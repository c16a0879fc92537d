"""``cctv rq-worker``: RQ's worker for replay jobs, riding out Redis outages.

A replay job resumes after an outage: its ingest waits for Redis and goes on from the next
unpublished frame (:mod:`ingest.camera`), while this worker skips the heartbeats it cannot send
instead of abandoning the job, and starts RQ's loop again (with backoff) when RQ leaves it on a
connection error (any other stop is a signal). A replay that fails on its input (not a video,
missing) is logged in one line instead of RQ's traceback.
"""

from __future__ import annotations

import logging
import threading

import redis
from rq import Worker
from rq.job_lifecycle import call_exception_handlers
from rq.serializers import JSONSerializer

from common.keys import Keys
from replay.job import ReplayError
from replay.queue import queue
from runtime.outage import REDIS_DOWN, Outage

log = logging.getLogger("cctv.rq-worker")


class ReplayWorker(Worker):
    """An RQ worker; other exceptions of a job keep RQ's traceback (they are bugs, not input)."""

    outage: Outage | None = None

    def handle_exception(self, job, *exc_info):
        if isinstance(exc_info[1], ReplayError):
            log.error("replay job %s failed: %s", job.id, exc_info[1])
            call_exception_handlers(self._exc_handlers, job, *exc_info)
            return
        super().handle_exception(job, *exc_info)

    def heartbeat(self, *args, **kwargs):
        self._unless_redis_is_away(super().heartbeat, *args, **kwargs)

    def maintain_heartbeats(self, *args, **kwargs):
        self._unless_redis_is_away(super().maintain_heartbeats, *args, **kwargs)

    def _unless_redis_is_away(self, call, *args, **kwargs) -> None:
        """A heartbeat that cannot be sent is skipped: the job (its horse) goes on."""
        try:
            call(*args, **kwargs)
        except REDIS_DOWN as exc:
            if self.outage is not None:
                self.outage.note(exc)
            return
        if self.outage is not None:
            self.outage.back()


def serve(client: redis.Redis, keys: Keys, burst: bool, logging_level: str) -> None:
    """Run RQ's loop until a stop signal (or, with ``burst``, an empty queue); when RQ leaves it
    because Redis went away, start it again with backoff."""
    outage = Outage(client, keys, "rq-worker", log)
    while True:
        worker = ReplayWorker([queue(client)], connection=client, serializer=JSONSerializer)
        worker.outage = outage
        try:
            worker.work(burst=burst, logging_level=logging_level)
        except REDIS_DOWN as exc:  # before RQ's loop (registering the worker)
            outage.failed(exc, threading.Event())
            continue
        if burst or worker._stop_requested or worker._shutdown_requested_date:
            return
        # RQ left its loop on an error (it logged which): Redis went away under it
        outage.failed(RuntimeError("RQ's worker loop stopped"), threading.Event())
