"""``cctv rq-worker``: RQ's worker for replay jobs, logging a replay's expected failure (a missing
or unreadable file) as one line instead of RQ's traceback."""

from __future__ import annotations

import logging

from rq import Worker
from rq.job_lifecycle import call_exception_handlers

from ingest.replay import ReplayError

log = logging.getLogger("cctv.rq-worker")


class ReplayWorker(Worker):
    """An RQ worker; other exceptions keep RQ's traceback (they are bugs, not input)."""

    def handle_exception(self, job, *exc_info):
        if isinstance(exc_info[1], ReplayError):
            log.error("replay job %s failed: %s", job.id, exc_info[1])
            call_exception_handlers(self._exc_handlers, job, *exc_info)
            return
        super().handle_exception(job, *exc_info)
