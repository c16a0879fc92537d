"""Enqueueing replay jobs on RQ and waiting until every replayed frame is processed."""

from __future__ import annotations

import time

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from common.keys import GROUP, RQ_QUEUE, Keys


def queue(client: redis.Redis) -> Queue:
    """The replay queue; jobs are JSON (function name + plain arguments), never pickle."""
    return Queue(RQ_QUEUE, connection=client, serializer=JSONSerializer)


def enqueue(client: redis.Redis, path: str, camera: str, fps: float | None,
            realtime: bool, timeout_s: int) -> Job:
    from ingest.replay import JOB_FUNCTION

    return queue(client).enqueue(JOB_FUNCTION, args=(path, camera, fps, realtime),
                                 job_timeout=timeout_s, result_ttl=86_400,
                                 description=f"replay {path} as camera {camera}")


def fetch(client: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=client, serializer=JSONSerializer)


def job_summary(job: Job) -> dict:
    """Status of a replay job as plain data."""
    status = job.get_status(refresh=True)
    summary = {"id": job.id, "status": str(status.value if hasattr(status, "value") else status),
               "description": job.description, "result": job.return_value()}
    if summary["status"] == "failed":
        info = job.latest_result()
        summary["error"] = (info.exc_string or "").strip().splitlines()[-1] if info else "failed"
    return summary


def processed_through(client: redis.Redis, keys: Keys, camera: str, last_id: str) -> bool:
    """True once the group has been handed every entry up to ``last_id`` and acked them all."""
    stream = keys.frames(camera)
    groups = {g["name"].decode(): g for g in client.xinfo_groups(stream)}
    group = groups.get(GROUP)
    if group is None:
        return False
    delivered = tuple(int(x) for x in group["last-delivered-id"].decode().split("-"))
    if delivered < tuple(int(x) for x in last_id.split("-")):
        return False
    return not client.xpending_range(stream, GROUP, min="-", max=last_id, count=1)


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
