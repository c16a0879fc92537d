"""The replay job that ``cctv replay`` enqueues and ``cctv rq-worker`` runs.

The job is stored with RQ's JSONSerializer: its function is named by the string
``ingest.replay.replay_file`` and its arguments are a file path, a camera name and optional
numbers, so nothing is pickled. The worker reads its Redis and ingest settings from its own
environment (``REDIS_URL``, ``CCTV_*``).
"""

from __future__ import annotations

import threading

from common.redis_conn import connect
from common.settings import IngestSettings, from_env, parse_camera

from .camera import CameraRunner, read_state


class ReplayError(RuntimeError):
    """The file could not be replayed (missing, corrupt, no frames)."""


def replay_file(path: str, camera: str, fps: float | None = None,
                realtime: bool = False) -> dict:
    """Ingest every frame of ``path`` (or ``fps`` of them) into ``camera``'s stream, waiting for
    the workers whenever the stream cap is reached; returns ``{"frames", "last_id"}``."""
    settings = from_env(IngestSettings)
    client = connect(settings)
    config = {"name": camera, "url": path, "realtime": realtime}
    if fps is not None:
        config["fps"] = fps
    cam = parse_camera(config, "replay")
    runner = CameraRunner(client, settings.keys, cam, path, settings, threading.Event(),
                          source_name="replay")
    if runner.run() == "error":
        state = read_state(client, settings.keys, camera)
        raise ReplayError(f"replay of {path}: {state.error if state else 'failed'}")
    return {"frames": runner.frames_published, "last_id": runner.last_id}
