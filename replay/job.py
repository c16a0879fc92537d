"""The replay job that ``cctv replay`` enqueues and ``cctv rq-worker`` runs: a file played
through ingest's camera runner as a camera, recorded (:mod:`replay.recorder`) when asked.

The job is stored with RQ's JSONSerializer: its function is named by the string
``replay.job.replay_file`` (:data:`replay.queue.REPLAY_FUNCTION`) and its arguments are a file
path, a camera name, optional numbers and an optional output folder, so nothing is pickled. The
worker reads its Redis and ingest settings from its own environment (``REDIS_URL``, ``CCTV_*``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import redis

from common.cameras import parse_camera
from common.keys import Keys
from ingest.camera import CameraRunner, read_state
from ingest.settings import IngestSettings
from ingest.sources import Frame
from media.video import VideoError, VideoInfo
from runtime.camera_list import stored_camera
from runtime.outage import REDIS_DOWN
from runtime.redis_conn import connect
from runtime.settings import from_env
from runtime.status import tracking_counts

from .follower import ReplayFollower, wait_for_results
from .recorder import Recorder, check_video, record
from .tally import counts_since

log = logging.getLogger("replay.job")


class ReplayError(RuntimeError):
    """The file could not be replayed (missing, corrupt, cut short, no frames)."""


class FileRunner(CameraRunner):
    """A camera runner that notes which frame of the file each published ``seq`` is; a replay
    detects every frame, paced in real time or not."""

    every_frame = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.file_index: list[int] = []

    def _publish(self, frame: Frame, t: float) -> None:
        self.file_index.append(frame.index)
        super()._publish(frame, t)


def replay_file(path: str, camera: str, fps: float | None = None,
                realtime: bool = False, out: str | None = None) -> dict:
    """Ingest every frame of ``path`` (or ``fps`` of them) into ``camera``'s stream, waiting for
    the workers whenever the stream cap is reached; returns ``{"frames", "last_id"}``.

    With ``out`` (a folder), once every frame is processed also write the recording there
    (:mod:`replay.recorder`) and return its paths under ``"files"``: ``video``, ``csv``,
    ``report``. A file that is not a video or is cut short fails before anything is ingested.
    """
    started = time.time()
    settings = from_env(IngestSettings)
    client = connect(settings)
    config = {"name": camera, "url": path, "realtime": realtime}
    if fps is not None:
        config["fps"] = fps
    cam = parse_camera(config, "replay")
    info = _check(path, out)
    runner = FileRunner(client, settings.keys, cam, path, settings, threading.Event(),
                        source_name="replay")
    client.persist(settings.keys.frames(camera))  # an earlier replay's expiry must not hit this one
    if out is None:
        _ingest(runner, client, settings.keys, path, camera)
        _expire_frames(client, settings, camera)
        return {"frames": runner.frames_published, "last_id": runner.last_id}
    with ReplayFollower(client, settings.keys, camera) as follower:
        # the report holds how much the tracker's totals grow from here (frames that something
        # else feeds this camera meanwhile count too)
        before = tracking_counts(client, settings.keys, camera, None)
        _ingest(runner, client, settings.keys, path, camera)
        tracked = wait_for_results(client, settings.keys, camera, runner.last_id, follower)
        counts = counts_since(before, tracking_counts(client, settings.keys, camera, None))
        recorder = Recorder(follower, runner.file_index, info,
                            stored_camera(client, settings.keys, camera),
                            counts if tracked else None)
        try:
            files = record(client, settings.keys, camera, path, Path(out), recorder, started)
        except VideoError as exc:
            raise ReplayError(str(exc)) from exc
        finally:
            _expire_frames(client, settings, camera)
    return {"frames": runner.frames_published, "last_id": runner.last_id, "files": files}


def _expire_frames(client: redis.Redis, settings: IngestSettings, camera: str) -> None:
    """The replay's frames go ``replay_keep_s`` after its results were read, not never: the
    tracker's snapshots and clips read them until then."""
    try:
        client.expire(settings.keys.frames(camera), settings.replay_keep_s)
    except REDIS_DOWN as exc:
        log.warning("replay %s: frames not set to expire (%s)", camera, exc)


def _check(path: str, out: str | None) -> VideoInfo | None:
    """The file's header (None for a folder of images); ReplayError, before anything is
    ingested, when the file cannot be replayed or the recording cannot be written."""
    try:
        info = check_video(path) if Path(path).is_file() else None
    except VideoError as exc:
        raise ReplayError(str(exc)) from exc
    if out is None:
        return info
    if info is None:
        raise ReplayError(f"replay of {path}: a recording needs a video file")
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReplayError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    return info


def _ingest(runner: CameraRunner, client: redis.Redis, keys: Keys, path: str,
            camera: str) -> None:
    """Publish the file's frames; ReplayError when it cannot be read."""
    if runner.run() == "error":
        state = read_state(client, keys, camera)
        raise ReplayError(f"replay of {path}: {state.error if state else 'failed'}")
