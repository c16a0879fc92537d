"""Waiting until every frame of a replay job is processed; the queue itself is replay.queue."""

from __future__ import annotations

import logging
import threading
import time

import redis
from rq.exceptions import InvalidJobOperation
from rq.job import Job

from common.keys import Keys
from replay.queue import job_summary, processed_through
from runtime.outage import REDIS_DOWN, Outage

log = logging.getLogger("cctv.replay")


def wait(client: redis.Redis, keys: Keys, job: Job, camera: str, timeout_s: float) -> dict:
    """Block until the job finished and its frames were processed (or it failed/timed out).

    A Redis outage is waited out (the job resumes); a job lost with Redis's data (a restart
    without persistence) is reported as ``lost``.
    """
    deadline = time.monotonic() + timeout_s
    outage = Outage(client, keys, "replay --wait", log)
    while time.monotonic() < deadline:
        try:
            summary = job_summary(job)
            if summary["status"] in ("failed", "stopped", "canceled"):
                return summary
            result = summary["result"]
            if summary["status"] == "finished" and (
                    not result["last_id"] or processed_through(client, keys, camera,
                                                               result["last_id"])):
                return summary | {"processed": True}
            outage.back()
        except REDIS_DOWN as exc:
            outage.failed(exc, threading.Event())
            continue
        except InvalidJobOperation:
            return {"id": job.id, "status": "lost",
                    "error": "the job is gone: Redis restarted without its data"}
        time.sleep(0.2)
    return job_summary(job) | {"status": "timeout"}
