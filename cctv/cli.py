"""The ``cctv`` console script. Every subcommand honours ``REDIS_URL`` (unset: embedded Redis).

Services are imported inside their subcommand, so ``cctv status`` or ``cctv dashboard`` never load
torch. The ``dashboard`` subcommand is defined by ``dashboard/cli.py`` (``register``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import redis

from common.cameras import parse_camera
from common.schema import SettingsError
from common.urls import mask_text, mask_url
from dashboard.cli import register as register_dashboard
from ingest.settings import IngestSettings
from runtime.logging_setup import setup_logging
from runtime.settings import CommonSettings, ServiceSettings, from_env
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings

log = logging.getLogger("cctv")


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (the service then stops cleanly)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def client_for(settings: CommonSettings) -> redis.Redis:
    from runtime.redis_conn import connect

    return connect(settings)


def start_metrics(settings: ServiceSettings, client: redis.Redis) -> None:
    """Serve Prometheus metrics when ``metrics_port`` is set."""
    if settings.metrics_port:
        from runtime.metrics import serve_metrics

        serve_metrics(settings.metrics_host, settings.metrics_port, client, settings.keys)


# -- services ------------------------------------------------------------------------------------
def cmd_up(args) -> int:
    from .up import up

    settings = from_env(CommonSettings)
    return up(settings, stop_on_signals(), args.cameras_file, args.workers, not args.no_dashboard,
              args.cluster)


def cmd_ingest(args) -> int:
    from common.cameras import load_cameras_file
    from ingest.service import IngestService

    settings = from_env(IngestSettings, cameras_file=args.cameras_file,
                        stream_maxlen=args.stream_maxlen)
    seed = load_cameras_file(settings.cameras_file) if settings.cameras_file else []
    client = client_for(settings)
    start_metrics(settings, client)
    IngestService(client, settings, seed, set(args.camera) if args.camera else None).run(
        stop_on_signals())
    return 0


def cmd_worker(args) -> int:
    from detector import load_detector
    from workers.service import Worker, plan_lanes, usable_cpus

    settings = from_env(WorkerSettings, batch_size=args.batch_size,
                        batch_wait_ms=args.batch_wait_ms, device=args.device,
                        detector=args.detector, publish_floor=args.publish_floor,
                        claim_idle_ms=args.claim_idle_ms, worker_id=args.worker_id,
                        num_threads=args.num_threads, lanes=args.lanes, precision=args.precision)
    cuda = settings.precision == "fp32" and resolve_device(settings.device).startswith("cuda")
    lanes, threads = plan_lanes(settings.lanes, settings.num_threads, cuda, usable_cpus())
    settings = settings.model_copy(update={"lanes": lanes, "num_threads": threads})
    client = client_for(settings)
    start_metrics(settings, client)
    detector = load_detector(settings.detector, settings.device, settings.publish_floor,
                             settings.classes, settings.num_threads, precision=settings.precision)
    Worker(client, settings, detector, str(getattr(detector, "device", "cpu"))).run(
        stop_on_signals())
    return 0


def resolve_device(spec: str | None) -> str:
    """The torch device to run on (auto: CUDA when present); SettingsError for one that does not
    exist here."""
    import torch

    if spec is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError) as exc:
        raise SettingsError(f"device {spec!r} is not a torch device (cpu, cuda, cuda:1)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"device {spec!r}: CUDA is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise SettingsError(f"device {spec!r}: this machine has {torch.cuda.device_count()} "
                            "CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise SettingsError(f"device {spec!r}: only cpu and cuda devices are supported")
    return spec


def cmd_tracker(args) -> int:
    from tracking.service import Tracker

    settings = from_env(TrackerSettings, tracker_id=args.tracker_id,
                        max_cameras=args.max_cameras, reorder_ms=args.reorder_ms,
                        lock_ttl_ms=args.lock_ttl_ms)
    client = client_for(settings)
    start_metrics(settings, client)
    Tracker(client, settings).run(stop_on_signals())
    return 0


def cmd_mqtt(args) -> int:
    from integrations.mqtt import bridge_health, run_bridge
    from integrations.settings import MqttSettings

    settings = from_env(MqttSettings, mqtt_url=args.url)
    if args.check:  # the compose healthcheck
        healthy, line = bridge_health(client_for(settings), settings)
        print(line)
        return 0 if healthy else 1
    if not settings.mqtt_url:
        raise SettingsError("no broker: set CCTV_MQTT_URL "
                            "(mqtt://user:${MQTT_PASSWORD}@host:1883, mqtts:// for TLS)")
    run_bridge(client_for(settings), settings, stop_on_signals())
    return 0


def cmd_webhooks(args) -> int:
    from integrations.settings import WebhookSettings
    from integrations.webhooks import WebhookService

    settings = from_env(WebhookSettings, cameras_file=args.cameras_file)
    client = client_for(settings)
    service = WebhookService(client, settings)
    start_metrics(settings, client)
    service.run(stop_on_signals())
    return 0


def cmd_rq_worker(args) -> int:
    from runtime.redis_conn import connect_queue

    from .rq_worker import serve

    settings = from_env(CommonSettings)
    serve(connect_queue(settings), settings.keys, args.burst,
          logging.getLevelName(log.getEffectiveLevel()))
    return 0


# -- replays -------------------------------------------------------------------------------------
def cmd_replay(args) -> int:
    from replay.queue import enqueue
    from runtime.redis_conn import connect_queue

    from .replay import wait

    path = Path(args.file).expanduser().resolve()
    if not path.exists():
        raise SettingsError(f"no such file: {args.file}")
    parse_camera({"name": args.camera, "url": str(path),
                  **({"fps": args.fps} if args.fps is not None else {})}, "replay")
    out = str(Path(args.out).expanduser().resolve()) if args.out else None
    settings = from_env(CommonSettings)
    client = client_for(settings)
    job = enqueue(connect_queue(settings), str(path), args.camera, args.fps, args.realtime, int(args.timeout), out)
    print(job.id, flush=True)
    if not args.wait:
        return 0
    summary = wait(client, settings.keys, job, args.camera, args.timeout)
    print(json.dumps(summary, default=str))
    return 0 if summary.get("processed") else 1


def cmd_job(args) -> int:
    from rq.exceptions import NoSuchJobError

    from replay.queue import fetch, job_summary
    from runtime.redis_conn import connect_queue

    client = connect_queue(from_env(CommonSettings))
    try:
        print(json.dumps(job_summary(fetch(client, args.job_id)), default=str))
    except NoSuchJobError as exc:
        raise SettingsError(f"no such job: {args.job_id}") from exc
    return 0


# -- inspection and cameras ----------------------------------------------------------------------
def cmd_config_check(args) -> int:
    from .config_check import check_file

    failed = False
    for path in args.files:
        errors, warnings = check_file(path)
        for error in errors:
            print(error, file=sys.stderr)
        for warning in warnings:
            print(f"{path}: warning: {warning}")
        if not errors:
            print(f"{path}: ok")
        failed = failed or bool(errors)
    return 1 if failed else 0


def cmd_status(args) -> int:
    from runtime.redis_conn import connect_queue
    from runtime.status import collect_status

    settings = from_env(CommonSettings)
    try:
        queue = connect_queue(settings) if settings.queue_url else None
        status = collect_status(client_for(settings), settings.keys, queue)
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:  # down, refused
        error = mask_text(explain(exc)[1])
        if args.json:
            print(json.dumps({"error": error}))
        print(f"cctv: status: {error}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(status.to_dict(), indent=2))
        return 0
    print(f"{'camera':16} {'state':9} {'in':>7} {'done':>7} {'dropped':>7} {'fps':>6}  detections")
    for name, cam in status.cameras.items():
        dets = ", ".join(f"{k}={v}" for k, v in cam.detections_total.items()) or "-"
        print(f"{name:16} {cam.state:9} {cam.frames_in:7} {cam.frames_processed:7} "
              f"{cam.frames_dropped:7} {cam.fps:6.1f}  {dets}"
              + (f"  ({cam.error})" if cam.error else ""))
        tracking = cam.tracking.to_dict()
        if any(tracking.values()):
            print(f"{'':16} tracked: {tracking_line(tracking)}")
    for w in status.workers:
        age = time.time() - w.ts
        print(f"worker {w.worker} on {w.device}: {w.frames} frames, {w.fps} fps, "
              f"batch {w.batch_size}, {w.latency_ms} ms/batch, seen {age:.0f}s ago")
    if not status.workers:
        print("no live workers (start one: cctv worker)")
    print(f"queued replays: {status.queues.replays}, dead letters: {status.queues.dead_letters}")
    hooks = status.webhooks
    if hooks.delivered or hooks.failed or hooks.dropped or hooks.pending:
        print(f"webhooks: {hooks.delivered} delivered, {hooks.failed} failed, {hooks.dropped} "
              f"dropped, {hooks.retries} retries, {hooks.pending} pending"
              + (f" (last error: {hooks.last_error})" if hooks.last_error else ""))
    for node in status.redis_cluster:
        print(f"redis {node.role} {node.address}: {node.state}"
              + (f", {node.slots} slots" if node.role == "master" else f", of {node.master}"))
    for service, loss in status.redis_losses.items():
        lost = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(loss.lost))
        print(f"{service} last lost Redis at {lost} for {loss.back - loss.lost:.1f}s")
    for bridge in status.mqtt.values():
        print(f"mqtt {bridge.client_id}: {bridge.state} {bridge.broker}"
              + (f" ({bridge.error})" if bridge.error else "")
              + f", {bridge.published} published, {bridge.dropped} dropped")
    return 0


def tracking_line(tracking: dict) -> str:
    """``unique person=3; line door in person=1 out -; zone bench person=1; dwell bench person
    mean 4.2s max 9.0s``."""
    def counts(labels: dict) -> str:
        return ",".join(f"{k}={v}" for k, v in labels.items()) or "-"

    parts = [f"unique {counts(tracking['unique'])}"]
    parts += [f"line {name} in {counts(c['in'])} out {counts(c['out'])}"
              for name, c in tracking["lines"].items()]
    parts += [f"zone {name} {counts(c)}" for name, c in tracking["zones"].items()]
    parts += [f"dwell {zone} {label} mean {d['mean_s']:.1f}s max {d['max_s']:.1f}s"
              for zone, labels in tracking["dwell"].items() for label, d in labels.items()]
    return "; ".join(parts)


def cmd_camera(args) -> int:
    from runtime.camera_list import list_cameras, remove_camera, store_camera

    settings = from_env(CommonSettings)
    client = client_for(settings)
    if args.action == "add":
        options = {"fps": args.fps, "max_width": args.max_width,
                   "jpeg_quality": args.jpeg_quality, "loop": args.loop or None,
                   "realtime": args.realtime or None}
        cam = parse_camera({"name": args.name, "url": args.url,
                            **{k: v for k, v in options.items() if v is not None}})
        store_camera(client, settings.keys, cam)
        print(f"camera {cam.name} stored; the running ingest picks it up within seconds")
    elif args.action == "rm":
        remove_camera(client, settings.keys, args.name)
        print(f"camera {args.name} removed")
    else:
        cameras = list_cameras(client, settings.keys)
        if args.json:
            print(json.dumps({n: c.model_dump() | {"url": mask_url(c.url)}
                              for n, c in cameras.items()}, indent=2))
        for name, cam in cameras.items() if not args.json else ():
            print(f"{name:16} {mask_url(cam.url)}  fps={cam.fps or 'all'} "
                  f"max_width={cam.max_width}")
    return 0


def duration_s(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h`` or ``7d`` -> seconds (argparse type)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    try:
        value = float(number) * unit
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration (90s, 15m, 1h, 7d): {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"a duration must be above 0: {text!r}")
    return value


def cmd_events(args) -> int:
    from runtime.event_store import Query, query_events

    settings = from_env(CommonSettings)
    query = Query(args.camera, args.label, args.zone,
                  time.time() - args.since if args.since else None, limit=args.limit)
    events, cursor = query_events(client_for(settings), settings.keys, query)
    if args.json:
        print(json.dumps({"events": [e.to_dict() for e in events], "cursor": cursor}, indent=2))
        return 0
    for e in events:
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.start_ts))
        length = f"{e.end_ts - e.start_ts:5.1f}s" if e.end_ts is not None else " open "
        where = " ".join([f"zone:{z}" for z in e.zones]
                         + [f"{c.name}:{c.direction}" for c in e.lines])
        print(f"{start} {length} {e.camera:12} {e.label:10} {e.top_score:.2f} "
              f"{'clip' if e.clip else '-   '} {e.id}  {where}".rstrip())
    if not events:
        print("no events")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cctv", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="run Redis, ingest, a worker, a tracker, an RQ worker and the "
                                  "dashboard")
    p.add_argument("--cameras-file", help="YAML cameras file (default: the sample video)")
    p.add_argument("--workers", type=int, default=1, help="detection workers to start")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    p.add_argument("--cluster", type=int, default=0, metavar="MASTERS",
                   help="run on a local Redis Cluster of MASTERS masters (at least 3), one "
                        "replica each, ports 7000- (the embedded Redis keeps the RQ queue)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("ingest", help="capture the configured cameras into Redis")
    p.add_argument("--cameras-file", help="YAML file seeding the camera list")
    p.add_argument("--camera", action="append", help="run only this camera (repeatable)")
    p.add_argument("--stream-maxlen", type=int, help="cap of each frame stream")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("worker", help="run one detection worker")
    p.add_argument("--detector", help="detector spec (default ssdlite-person)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: auto)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--batch-wait-ms", type=int)
    p.add_argument("--publish-floor", type=float,
                   help="lowest detection score published (default 0.1; counting: the cameras "
                        "file's count_min_score)")
    p.add_argument("--claim-idle-ms", type=int, help="reclaim frames idle this long")
    p.add_argument("--worker-id", help="consumer name (default host-pid)")
    p.add_argument("--num-threads", type=int, help="CPU threads per lane")
    p.add_argument("--lanes", type=int, help="batches in flight at once (default: one per core on CPU, at most 4; 2 on CUDA)")
    p.add_argument("--precision", choices=("fp32", "int8"),
                   help="int8: the quantized network, on the CPU (default fp32)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("tracker", help="run one tracker (ids, unique counts, line crossings, "
                                       "zone occupancy)")
    p.add_argument("--tracker-id", help="lock owner name (default host-pid)")
    p.add_argument("--max-cameras", type=int, help="most cameras to take (default: all free)")
    p.add_argument("--reorder-ms", type=int, help="longest wait for a missing earlier frame")
    p.add_argument("--lock-ttl-ms", type=int, help="a dead tracker's cameras are taken over "
                                                   "after this long")
    p.set_defaults(func=cmd_tracker)

    p = sub.add_parser("mqtt", help="publish events, counts and snapshots to an MQTT broker "
                                    "(Home Assistant discovery)")
    p.add_argument("--url", help="broker, mqtt[s]://user:${VAR}@host:port (default: "
                                 "CCTV_MQTT_URL)")
    p.add_argument("--check", action="store_true",
                   help="exit 0 if this host's bridge is connected to its broker, else 1")
    p.set_defaults(func=cmd_mqtt)

    p = sub.add_parser("webhooks", help="POST event changes to the webhooks of the cameras "
                                        "file and of each camera (idle when there are none)")
    p.add_argument("--cameras-file", help="YAML cameras file whose top-level webhooks apply to "
                                          "every camera")
    p.set_defaults(func=cmd_webhooks)

    p = sub.add_parser("rq-worker", help="run one RQ worker for replay jobs")
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.set_defaults(func=cmd_rq_worker)

    p = sub.add_parser("replay", help="enqueue a replay of a recorded file (RQ job)")
    p.add_argument("file")
    p.add_argument("--camera", required=True, help="camera name the frames appear under")
    p.add_argument("--fps", type=float, help="frames/s to take (default: every frame)")
    p.add_argument("--realtime", action="store_true", help="pace by the file's timestamps")
    p.add_argument("--out", metavar="DIR",
                   help="also write DIR/CAMERA.mp4 (annotated, H.264), .csv (per second) and "
                        ".json (totals) once every frame is processed; a taken name gets -1, -2..")
    p.add_argument("--wait", action="store_true",
                   help="return once every frame is ingested and processed, and the --out "
                        "files written (exit 0)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("job", help="show a replay job's status as JSON")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_job)

    p = sub.add_parser("status", help="cameras, workers, queue depths and counts")
    p.add_argument("--json", action="store_true", help="machine-readable (a stable contract)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("camera", help="add, remove or list cameras of the running ingest")
    cam = p.add_subparsers(dest="action", required=True)
    add = cam.add_parser("add", help="add or change a camera")
    add.add_argument("name")
    add.add_argument("url", help="file, folder, webcam index, rtsp:// or http(s):// URL; "
                                 "credentials as ${VAR}")
    add.add_argument("--fps", type=float)
    add.add_argument("--max-width", type=int)
    add.add_argument("--jpeg-quality", type=int)
    add.add_argument("--loop", action="store_true")
    add.add_argument("--realtime", action="store_true")
    rm = cam.add_parser("rm", help="remove a camera")
    rm.add_argument("name")
    ls = cam.add_parser("ls", help="list cameras")
    ls.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_camera)

    p = sub.add_parser("events", help="list events (one per counted object), newest first")
    p.add_argument("--camera")
    p.add_argument("--label")
    p.add_argument("--zone")
    p.add_argument("--since", type=duration_s, help="only those started this long ago or less "
                                                    "(90s, 15m, 1h, 7d)")
    p.add_argument("--limit", type=int, default=50, choices=range(1, 501), metavar="1..500")
    p.add_argument("--json", action="store_true", help='{"events": [EVENT...], "cursor"} as '
                                                       "GET /api/events answers")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("config", help="check configuration files")
    config = p.add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="validate cameras YAML files, showing each problem "
                                            "at its line (exit 1 if any is invalid)")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=cmd_config_check)

    register_dashboard(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; every expected failure is one line ``cctv: <command>: <why>`` on
    stderr, exit 2 for usage (settings, arguments, model specs) and 1 at run time; ``-v`` adds
    the traceback."""
    args = build_parser().parse_args(argv)
    level, json_logs = log_settings()
    setup_logging("DEBUG" if args.verbose else level, json_logs)
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # a closed pipe fails here, inside the handler
        return code
    except BrokenPipeError:  # ``cctv status | head -1``: the reader is gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        code, why = explain(exc)
        print(f"cctv: {args.command}: {mask_text(why)}", file=sys.stderr)
        return code


def explain(exc: Exception) -> tuple[int, str]:
    """(exit status, one-line reason) of a subcommand's failure."""
    loaded = sys.modules.get("detector.errors")  # raised only once loaded: torch stays unloaded
    if isinstance(exc, SettingsError) or loaded and isinstance(exc, loaded.DetectorError):
        return 2, str(exc)
    if isinstance(exc, redis.AuthenticationError):
        return 1, f"Redis at {redis_address_or_url()} refused the credentials: {exc}"
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError,
                        redis.exceptions.RedisClusterException)):  # no cluster node answers
        return 1, f"Redis unreachable at {redis_address_or_url()}: {exc}"
    if isinstance(exc, redis.ResponseError):
        return 1, f"Redis at {redis_address_or_url()} answered: {exc}"
    if isinstance(exc, OSError):
        return 1, f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    return 1, f"{type(exc).__name__}: {exc} (run with -v for the traceback)"


def redis_address_or_url() -> str:
    """Where the settings point, without credentials (``REDIS_URL`` when they are invalid)."""
    from runtime.redis_conn import redis_address

    try:
        return redis_address(from_env(CommonSettings))
    except SettingsError:
        return "REDIS_URL"


def log_settings() -> tuple[str, bool]:
    """(log level, JSON lines?) from the environment; INFO text if the settings are invalid."""
    try:
        settings = from_env(CommonSettings)
    except SettingsError:
        return "INFO", False
    return settings.log_level, settings.log_format == "json"
