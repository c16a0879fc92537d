"""The ingest service: one thread per camera, following the camera list in Redis.

At start the YAML cameras are written to ``cctv:cameras`` (a URL with literal credentials is
stored masked and its real form kept in this process only); then the list is re-read every
``camera_poll_s`` seconds and cameras are started, restarted (capture settings changed; not for lines,
zones, counting, events or webhooks) or stopped (removed).
While Redis is away the cameras keep running (see :mod:`ingest.sink`); a Redis that comes back
restarted without its data (no persistence) gets the YAML cameras again, and says so.
"""

from __future__ import annotations

import logging
import threading

import redis

from common.cameras import CameraConfig
from common.urls import mask_url
from runtime.camera_list import CameraListReader
from runtime.outage import REDIS_FAILED, Outage
from runtime.redis_conn import is_cluster

from .camera import CameraRunner
from .settings import IngestSettings
from .sources import SourceError, expand_url

log = logging.getLogger("cctv.ingest")


class _Running:
    def __init__(self, config: CameraConfig, runner: CameraRunner, stop: threading.Event):
        self.config, self.runner, self.stop = config, runner, stop
        self.thread = threading.Thread(target=runner.run, name=f"camera-{config.name}",
                                       daemon=True)


NOT_CAPTURE = {"lines", "zones", "counting", "events", "webhooks"}
"""Camera settings of the tracker and the webhooks sender: changing them leaves ingest's capture
of the camera running (a new setting restarts it unless listed here)."""


def same_capture(a: CameraConfig, b: CameraConfig) -> bool:
    """Whether two configs of a camera capture it alike (no restart needed)."""
    return a.model_dump(exclude=NOT_CAPTURE) == b.model_dump(exclude=NOT_CAPTURE)


class IngestService:
    """Runs every configured camera (or only those in ``only``) until :meth:`run`'s stop."""

    def __init__(self, client: redis.Redis, settings: IngestSettings,
                 seed: list[CameraConfig] = (), only: set[str] | None = None):
        self.client, self.settings, self.keys = client, settings, settings.keys
        self.only = only
        self.local_urls = {c.name: c.url for c in seed}
        self.running: dict[str, _Running] = {}
        self.broken: dict[str, CameraConfig] = {}  # cameras whose keys refused them (logged once)
        self.camera_list = CameraListReader(log)
        self.seed = list(seed)
        self.outage = Outage(client, self.keys, "ingest", log)
        self.run_id: str | None = None  # of the Redis server, to notice a restart
        self._seed()

    def _seed(self) -> None:
        for cam in self.seed:
            stored = cam.model_copy(update={"url": mask_url(cam.url)})
            self.client.hset(self.keys.cameras, cam.name,
                             stored.model_dump_json(exclude_defaults=True))

    def real_url(self, cam: CameraConfig) -> str:
        """The URL to open: the YAML's unmasked one if the hash holds its masked form."""
        local = self.local_urls.get(cam.name)
        url = local if local is not None and mask_url(local) == cam.url else cam.url
        return expand_url(url)

    def run(self, stop: threading.Event) -> None:
        """Follow the camera list until ``stop`` is set, then stop every camera."""
        try:
            while True:
                try:
                    self._check_restart()
                    self.sync()
                    self.outage.back()
                except REDIS_FAILED as exc:  # the cameras go on; the list is read again later
                    if not self.outage.failed(exc, stop):
                        break
                    continue
                if stop.wait(self.settings.camera_poll_s):
                    break
        finally:
            for name in list(self.running):
                self._stop(name)

    def _check_restart(self) -> None:
        """A Redis that restarted without the cameras of the file lost its data: seed them
        again. (Not on a cluster: ``INFO`` answers from one node of several.)"""
        if is_cluster(self.client):
            return
        try:
            run_id = self.client.info("server").get("run_id")
        except redis.ResponseError:  # INFO not allowed to this ACL user: restarts go unnoticed
            return
        restarted = self.run_id is not None and run_id != self.run_id
        self.run_id = run_id
        if restarted and self.seed and not self.client.exists(self.keys.cameras):
            log.warning("Redis restarted without its data (no persistence): streams, counts and "
                        "state were lost; %d camera(s) seeded again from the cameras file, any "
                        "added with 'cctv camera add' must be added again", len(self.seed))
            self._seed()
        elif restarted:
            log.info("Redis restarted")

    def sync(self) -> None:
        """Start, restart and stop cameras to match the list in Redis (a camera whose entry is
        invalid goes on as it was)."""
        wanted, refused = self.camera_list.read(self.client, self.keys)
        if self.only is not None:
            wanted = {n: c for n, c in wanted.items() if n in self.only}
        for name in list(self.running):
            if name in refused:
                continue
            if name not in wanted or not same_capture(wanted[name], self.running[name].config):
                log.info("camera %s %s", name, "removed" if name not in wanted else "changed")
                self._stop(name)
        for name, cam in wanted.items():
            if name not in self.running:
                self._start(cam)

    def _start(self, cam: CameraConfig) -> None:
        stop = threading.Event()
        try:
            url = self.real_url(cam)
        except SourceError as exc:
            log.error("camera %s: %s", cam.name, exc)
            url = cam.url  # opening fails again with the same clear error, kept in its state
        try:
            runner = CameraRunner(self.client, self.keys, cam, url, self.settings, stop)
        except redis.ResponseError as exc:  # e.g. its stream key holds the wrong type
            if self.broken.get(cam.name) != cam:
                log.error("camera %s: not started: %s", cam.name, exc)
            self.broken[cam.name] = cam
            return
        self.broken.pop(cam.name, None)
        entry = _Running(cam, runner, stop)
        self.running[cam.name] = entry
        log.info("camera %s: starting %s", cam.name, mask_url(cam.url))
        entry.thread.start()

    def _stop(self, name: str) -> None:
        entry = self.running.pop(name)
        entry.stop.set()
        entry.thread.join(timeout=self.settings.open_timeout_s + 5)
