"""The subcommands that run a service in the foreground until SIGINT or SIGTERM: ``up``,
``ingest``, ``worker``, ``tracker``, ``mqtt``, ``webhooks`` and ``rq-worker``.

Each service is imported inside its subcommand, so no other subcommand loads torch.
"""

from __future__ import annotations

import logging

from common.schema import SettingsError
from ingest.settings import IngestSettings
from runtime.settings import CommonSettings, from_env
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings

from .process import client_for, start_metrics, stop_on_signals

log = logging.getLogger("cctv")


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


def register(sub) -> None:
    """Add the service subcommands to the ``cctv`` command's subparsers."""
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
    p.add_argument("--lanes", type=int, help="batches in flight at once (default: one per core "
                                             "on CPU, at most 4; 2 on CUDA)")
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
