"""The RQ replay queue: enqueue a replay job, read its status and whether the workers processed
its frames (``cctv replay``, the dashboard, the job's own follower).

Jobs use RQ's JSONSerializer: the function is named by :data:`REPLAY_FUNCTION` (defined in
:mod:`replay.job`, run by ``cctv rq-worker``) and its arguments are plain values, so nothing is
pickled.
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from common.keys import GROUP, RQ_QUEUE, Keys
from common.stream_ids import StreamId

REPLAY_FUNCTION = "replay.job.replay_file"
"""Dotted name of the job function: ``replay_file(path, camera, fps, realtime, out)``; ``out``
(a folder or None) asks for the recording: annotated video, per-second CSV and JSON report."""


def queue(client: redis.Redis) -> Queue:
    """The replay queue; jobs are JSON (function name + plain arguments), never pickle."""
    return Queue(RQ_QUEUE, connection=client, serializer=JSONSerializer)


def enqueue(client: redis.Redis, path: str, camera: str, fps: float | None,
            realtime: bool, timeout_s: int, out: str | None = None) -> Job:
    return queue(client).enqueue(REPLAY_FUNCTION, args=(path, camera, fps, realtime, out),
                                 job_timeout=timeout_s, result_ttl=86_400,
                                 description=f"replay {path} as camera {camera}")


def fetch(client: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=client, serializer=JSONSerializer)


def processed_through(client: redis.Redis, keys: Keys, camera: str, last_id: str) -> bool:
    """True once the group has been handed every entry up to ``last_id`` and acked them all."""
    stream = keys.frames(camera)
    groups = {g["name"].decode(): g for g in client.xinfo_groups(stream)}
    group = groups.get(GROUP)
    if group is None:
        return False
    if StreamId.parse(group["last-delivered-id"]) < StreamId.parse(last_id):
        return False
    return not client.xpending_range(stream, GROUP, min="-", max=last_id, count=1)


def job_summary(job: Job) -> dict:
    """Status of a replay job as plain data."""
    status = job.get_status(refresh=True)
    summary = {"id": job.id, "status": str(status.value if hasattr(status, "value") else status),
               "description": job.description, "result": job.return_value()}
    if summary["status"] == "failed":
        info = job.latest_result()
        summary["error"] = (info.exc_string or "").strip().splitlines()[-1] if info else "failed"
    return summary


def recent_jobs(client: redis.Redis, limit: int = 20) -> list[dict]:
    """Summaries of the newest replay jobs (queued, running, finished, failed), newest first."""
    q = queue(client)
    ids = list(dict.fromkeys([*q.job_ids, *q.started_job_registry.get_job_ids(),
                              *q.finished_job_registry.get_job_ids(),
                              *q.failed_job_registry.get_job_ids()]))
    jobs = [j for j in Job.fetch_many(ids, connection=client, serializer=JSONSerializer) if j]
    jobs.sort(key=lambda j: j.enqueued_at or j.created_at, reverse=True)
    return [job_summary(j) for j in jobs[:limit]]
