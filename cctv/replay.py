"""Waiting until every frame of a replay job is processed; the queue itself is common.replays."""

from __future__ import annotations

import time

import redis
from rq.job import Job

from common.keys import Keys
from common.replays import job_summary, processed_through


def wait(client: redis.Redis, keys: Keys, job: Job, camera: str, timeout_s: float) -> dict:
    """Block until the job finished and its frames were processed (or it failed/timed out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        summary = job_summary(job)
        if summary["status"] in ("failed", "stopped", "canceled"):
            return summary
        result = summary["result"]
        if summary["status"] == "finished" and (
                not result["last_id"] or processed_through(client, keys, camera,
                                                           result["last_id"])):
            return summary | {"processed": True}
        time.sleep(0.2)
    return job_summary(job) | {"status": "timeout"}
