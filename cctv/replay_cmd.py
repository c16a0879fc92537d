"""``cctv replay FILE``: enqueue a replay of a recorded file (an RQ job), optionally waiting for
its summary; ``cctv job ID``: a replay job's status as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from common.cameras import parse_camera
from common.schema import SettingsError
from runtime.settings import CommonSettings, from_env

from .process import client_for


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
    job = enqueue(connect_queue(settings), str(path), args.camera, args.fps, args.realtime,
                  int(args.timeout), out)
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
        job = fetch(client, args.job_id)
    except NoSuchJobError as exc:
        raise SettingsError(f"no such job: {args.job_id}") from exc
    except ValueError as exc:  # rq refuses ids other than letters, digits, "_" and "-"
        raise SettingsError(f"invalid job id {args.job_id!r}: {exc}") from exc
    print(json.dumps(job_summary(job), default=str))
    return 0


def register(sub) -> None:
    """Add ``replay`` and ``job`` to the ``cctv`` command's subparsers."""
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
